/**
 * IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, also written `::ffff:c000:201`) are IPv4
 * clients on a dual-stack socket: every place that compares, lists or blames an address (the
 * sessions' logs, network allowlists, the brute-force guard's sources) must see the same IPv4 text.
 */

/** `::ffff:192.0.2.1` or `::ffff:c000:201` → `192.0.2.1`; any other text unchanged. */
export function unmapIpv4(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return m[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (hex) {
    const [hi, lo] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return ip;
}
