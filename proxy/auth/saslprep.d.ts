// Type declaration for the untyped `saslprep` npm package (RFC 4013 SASLprep), used to normalise SCRAM passwords.

declare module 'saslprep' {
  /** Throws when the prepared string would contain prohibited or (by default) unassigned code points. */
  function saslprep(input: string, options?: { allowUnassigned?: boolean }): string;
  export = saslprep;
}
