/** Who is under enforcement: the admin's per-account override wins over the configured policy. */
import { BlockList, isIP } from 'node:net';
import { type EnforcePolicy, modeAt } from './rollout.js';
import { unmapIpv4 } from './ip.js';

/** True when the account must use application passcodes at time `now` (observe and dated entries: core/rollout.ts). */
export function isEnforced(policy: EnforcePolicy, override: boolean | null | undefined, account: string, now: number): boolean {
  return modeAt(policy.enforce, override, account, now).mode === 'enforce';
}

/** Matches client addresses against CIDR networks (IPv4, IPv6 and IPv4-mapped IPv6). */
export class NetworkSet {
  private readonly list = new BlockList();
  readonly empty: boolean;
  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr = '', bits] = c.split('/');
      const fam = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      this.list.addSubnet(addr, Number(bits ?? (fam === 'ipv6' ? 128 : 32)), fam);
    }
    this.empty = cidrs.length === 0;
  }
  has(ip: string): boolean {
    if (this.empty) return false;
    const addr = unmapIpv4(ip);
    const fam = isIP(addr);
    if (fam === 0) return false;
    return this.list.check(addr, fam === 6 ? 'ipv6' : 'ipv4');
  }
}
