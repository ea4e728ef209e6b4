// cluster.env values are quoted by istio's port of Python's shellescape.quote. Its "safe"
// character class is written `[^\\w@%+=:,./-]` in a Go raw string, so `\\w` means a
// backslash and the letter w, not "word characters": almost every value ends up quoted
// ('latest', '10.10.10.10'). The VM's istio-start.sh sources the file with a POSIX shell,
// which reads both forms the same way.

const unsafe = /[^\\w@%+=:,./-]/u

/** istio's shellescape.Quote, quirk included. */
export function shellQuote(value: string): string {
  if (value.length === 0) return "''"
  if (!unsafe.test(value)) return value
  return `'${value.replaceAll("'", `'"'"'`)}'`
}
