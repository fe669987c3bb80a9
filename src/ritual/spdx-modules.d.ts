// The two SPDX packages ship no types; these are the parts the ritual uses.
declare module 'spdx-expression-parse' {
  interface SpdxLicence {
    license: string;
    plus?: true;
    exception?: string;
  }
  interface SpdxConjunction {
    left: SpdxNode;
    conjunction: 'and' | 'or';
    right: SpdxNode;
  }
  type SpdxNode = SpdxLicence | SpdxConjunction;
  function parse(expression: string): SpdxNode;
  namespace parse {
    export type { SpdxNode, SpdxLicence, SpdxConjunction };
  }
  export = parse;
}

declare module 'spdx-satisfies' {
  /** True when `expression` can be complied with using only the `approved` licences (no AND/OR in them). */
  function satisfies(expression: string, approved: string[]): boolean;
  export = satisfies;
}
