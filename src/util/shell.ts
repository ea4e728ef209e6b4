// The one POSIX shell quoter for commands the product builds (a word that needs no quoting stays
// bare, any other is single-quoted). cluster.env is the exception, on purpose: istio's own
// shellescape port (src/istio/shellQuote.ts) keeps the file byte-identical to istioctl's.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/

/** One word for `sh`: bare when it needs no quoting, else single-quoted. */
export function shellQuote(word: string): string {
  if (SAFE.test(word)) return word
  return `'${word.replace(/'/g, `'"'"'`)}'`
}

/** An argv as one command line for `sh`. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ')
}
