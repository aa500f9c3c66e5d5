export declare const compiledEntry: URL;
export declare function compiledIsFresh(): boolean;
