/** A few friendly messages for the demo mailboxes. */
export function demoMessages(): Array<{ user: string; raw: string }> {
  const msg = (to: string, subject: string, body: string, day: number) => ({
    user: to,
    raw: [
      `From: Mail Admin <postmaster@example.com>`,
      `To: ${to}`,
      `Subject: ${subject}`,
      `Date: ${new Date(Date.UTC(2026, 10, day, 9, 30)).toUTCString().replace('GMT', '+0000')}`,
      `Message-ID: <demo-${day}-${to}>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      body,
      '',
    ].join('\r\n'),
  });
  return [
    msg(
      'alice@example.com',
      'Welcome to two-factor mail',
      'Hello Alice,\r\n\r\nyour mail apps now use application passcodes. Your main password only works where a second factor is asked.',
      20,
    ),
    msg('alice@example.com', 'Your first passcode', 'If you can read this in your mail app, your passcode works.', 21),
    msg('bob@example.com', 'Hello Bob', 'Your account is not under enforcement: your password works as before.', 22),
  ];
}
