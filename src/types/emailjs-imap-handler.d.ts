declare module 'emailjs-imap-handler' {
  interface Parsed {
    tag: string;
    command: string;
    attributes?: any[];
  } // eslint-disable-line @typescript-eslint/no-explicit-any
  const handler: {
    parser(input: Uint8Array, options?: { valueAsString?: boolean }): Parsed;
    compiler(response: unknown, asArray?: boolean, isLogging?: boolean): string;
  };
  export default handler;
}
