// The shapes every config module shares: in a module of their own, so connections.ts and index.ts need not
// import each other.

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string }

export type Env = Readonly<Record<string, string | undefined>>

export interface Field<T> {
  readonly parse: (raw: string | undefined) => Parsed<T>
  /** For the README's table and for error messages. */
  readonly doc: string
  /**
   * For a field that reads more than its own variable (a `…_FILE` twin, a setting it depends on): used
   * instead of `parse`, with the whole environment and the field's variable name.
   */
  readonly parseEnv?: (env: Env, name: string) => Parsed<T>
  /**
   * A Kafka topic: two topic fields of one spec naming the same topic is an error (a service that reads
   * its dead letters back as alerts, or writes incidents over its snapshots).
   */
  readonly topic?: true
}

export type Spec = Record<string, Field<unknown>>
export type ConfigOf<S extends Spec> = { readonly [K in keyof S]: S[K] extends Field<infer T> ? T : never }
