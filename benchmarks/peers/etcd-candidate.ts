/**
 * A process that campaigns in an etcd3 Election and leads until it is killed: the crashing
 * leader of the peer crash-failover shape. argv: etcd address, election name, lease TTL (s).
 */
import { Etcd3 } from 'etcd3';
import { serveCalls } from '../lib/harness.js';

const [address, name, ttl] = process.argv.slice(2) as [string, string, string];
const client = new Etcd3({ hosts: address });
const election = client.election(name, Number(ttl));

serveCalls(
  {
    lead: async () => {
      const campaign = election.campaign(`pid-${process.pid}`);
      campaign.on('error', () => undefined);
      await campaign.wait();
      return true;
    },
  },
  { pid: process.pid },
  () => client.close(),
);
