/**
 * One-step mail-app setup: the server settings users are told, an Apple configuration profile
 * (.mobileconfig) carrying a new passcode, and Thunderbird's autoconfig file. The profile is
 * unsigned: signing needs a CMS signature with a certificate Apple devices trust, and the portal
 * often runs behind a reverse proxy without the mail TLS key; iOS then shows "Unsigned", which
 * changes nothing in what it installs. The autoconfig file holds no secret: anyone may fetch it.
 */
import { randomUUID } from 'node:crypto';
import { domainOf } from '../core/identity.js';
import type { Ctx, MailEndpoint, Portal } from './types.js';

export interface ServerInfo {
  host: string;
  smtpHost: string;
  imap: MailEndpoint | null;
  smtp: MailEndpoint | null;
}

/** Implicit TLS first (no downgrade possible), then STARTTLS, then whatever there is. */
function preferred(list: MailEndpoint[]): MailEndpoint | null {
  return list.find((e) => e.tls === 'implicit') ?? list.find((e) => e.tls === 'starttls') ?? list[0] ?? null;
}

/** The settings mail apps need: configured names, else public_url's host, else the Host the browser used. */
export function serverInfo(p: Portal, c: Ctx): ServerInfo {
  const fromUrl = p.deps.portal.publicUrl ? new URL(p.deps.portal.publicUrl).hostname : null;
  const fromHost = (c.req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '') || 'your mail server';
  const host = p.deps.mail.host ?? fromUrl ?? fromHost;
  return { host, smtpHost: p.deps.mail.smtpHost ?? host, imap: preferred(p.deps.mail.imap), smtp: preferred(p.deps.mail.smtp) };
}

const xml = (s: string) => s.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
const str = (k: string, v: string) => `<key>${k}</key><string>${xml(v)}</string>`;
const int = (k: string, v: number) => `<key>${k}</key><integer>${v}</integer>`;
const bool = (k: string, v: boolean) => `<key>${k}</key><${v}/>`;

/** An Apple configuration profile with an IMAP (and SMTP) account that signs in with `passcode`. */
export function mobileconfig(user: string, label: string, passcode: string, s: ServerInfo, org: string): string {
  const compact = passcode.replace(/\s/g, '');
  const id = `mailgate.${domainOf(user) || 'local'}.${randomUUID()}`;
  const account = [
    str('PayloadType', 'com.apple.mail.managed'),
    int('PayloadVersion', 1),
    str('PayloadIdentifier', `${id}.mail`),
    str('PayloadUUID', randomUUID()),
    str('PayloadDisplayName', `Mail: ${user}`),
    str('EmailAccountType', 'EmailTypeIMAP'),
    str('EmailAccountDescription', user),
    str('EmailAddress', user),
    ...(s.imap
      ? [
          str('IncomingMailServerHostName', s.host),
          int('IncomingMailServerPortNumber', s.imap.port),
          bool('IncomingMailServerUseSSL', s.imap.tls !== 'none'),
          str('IncomingMailServerAuthentication', 'EmailAuthPassword'),
          str('IncomingMailServerUsername', user),
          str('IncomingPassword', compact),
        ]
      : []),
    ...(s.smtp
      ? [
          str('OutgoingMailServerHostName', s.smtpHost),
          int('OutgoingMailServerPortNumber', s.smtp.port),
          bool('OutgoingMailServerUseSSL', s.smtp.tls !== 'none'),
          str('OutgoingMailServerAuthentication', 'EmailAuthPassword'),
          str('OutgoingMailServerUsername', user),
          str('OutgoingPassword', compact),
          bool('OutgoingPasswordSameAsIncomingPassword', true),
        ]
      : []),
  ];
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
${str('PayloadType', 'Configuration')}
${int('PayloadVersion', 1)}
${str('PayloadIdentifier', id)}
${str('PayloadUUID', randomUUID())}
${str('PayloadDisplayName', `${user} (${label})`)}
${str('PayloadOrganization', org)}
${bool('PayloadRemovalDisallowed', false)}
<key>PayloadContent</key><array><dict>
${account.join('\n')}
</dict></array>
</dict></plist>
`;
}

const SOCKET = { implicit: 'SSL', starttls: 'STARTTLS', none: 'plain' } as const;

function server(kind: 'incomingServer' | 'outgoingServer', type: string, host: string, e: MailEndpoint): string {
  return `    <${kind} type="${type}">
      <hostname>${xml(host)}</hostname>
      <port>${e.port}</port>
      <socketType>${SOCKET[e.tls]}</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </${kind}>`;
}

/** Thunderbird's autoconfig (clientConfig 1.1) for one domain: servers and ports, never a secret. */
export function autoconfigXml(domain: string, s: ServerInfo, name: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${xml(domain)}">
    <domain>${xml(domain)}</domain>
    <displayName>${xml(name)}</displayName>
    <displayShortName>${xml(domain)}</displayShortName>
${[s.imap ? server('incomingServer', 'imap', s.host, s.imap) : '', s.smtp ? server('outgoingServer', 'smtp', s.smtpHost, s.smtp) : '']
  .filter(Boolean)
  .join('\n')}
  </emailProvider>
</clientConfig>
`;
}

export const AUTOCONFIG_PATHS = ['/.well-known/autoconfig/mail/config-v1.1.xml', '/mail/config-v1.1.xml'];

/**
 * The domain an autoconfig request is for: the address's (Thunderbird sends ?emailaddress=), else
 * the Host it asked (autoconfig.example.com); null unless the mail fronts serve that domain.
 */
export function autoconfigDomain(p: Portal, c: Ctx): string | null {
  const address = c.query.get('emailaddress');
  const host = (c.req.headers.host ?? '').replace(/:\d+$/, '').replace(/^autoconfig\./i, '');
  const probe = address?.includes('@') ? address : host ? `probe@${host}` : '';
  if (probe.length > 320) return null;
  const account = p.deps.identity.canonical(probe);
  return account?.includes('@') ? domainOf(account) : null;
}
