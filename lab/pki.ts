// The lab's certificate authority: one root that signs the sandbox API server's certificate,
// istiod's serving certificate and workload certificates. ECDSA P-256 through WebCrypto.
import 'reflect-metadata' // @peculiar/x509 needs it loaded first
import * as x509 from '@peculiar/x509'
import { webcrypto } from 'node:crypto'

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

const crypto = webcrypto
// The library's types name the DOM's Crypto, which this project (no DOM lib) does not load.
x509.cryptoProvider.set(crypto as never)

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const

export interface IssuedCertificate {
  certPem: string
  keyPem: string
}

export interface CertificateRequest {
  commonName: string
  dnsNames?: string[]
  ipAddresses?: string[]
  /** SPIFFE identities, e.g. spiffe://cluster.local/ns/vm/sa/mysql */
  uris?: string[]
  /** Validity in seconds from now (default 24 h). Negative makes an already expired certificate. */
  validForSeconds?: number
  /** Public key to certify (from a CSR); a new key pair is made when absent. */
  publicKey?: CryptoKey
}

export interface LabCa {
  certPem: string
  keyPem: string
  issue(request: CertificateRequest): Promise<IssuedCertificate>
  /** Signs the public key of a PEM certificate signing request. */
  signCsr(csrPem: string, request: Omit<CertificateRequest, 'publicKey'>): Promise<string>
}

function serial(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16)))
    .toString('hex')
    .replace(/^[89a-f]/, '1')
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n'
}

export async function createLabCa(commonName = 'mesh-expansion lab root CA'): Promise<LabCa> {
  const keys = (await crypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify'
  ])) as CryptoKeyPair
  const now = Date.now()
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}, O=mesh-expansion-lab`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 10 * 365 * 86400_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
    ]
  })
  const certPem = root.toString('pem') + '\n'
  const keyPem = await exportKeyPem(keys.privateKey)

  async function sign(request: CertificateRequest, publicKey: CryptoKey): Promise<string> {
    const names: x509.JsonGeneralName[] = [
      ...(request.dnsNames ?? []).map(value => ({ type: 'dns' as const, value })),
      ...(request.ipAddresses ?? []).map(value => ({ type: 'ip' as const, value })),
      ...(request.uris ?? []).map(value => ({ type: 'url' as const, value }))
    ]
    const validFor = (request.validForSeconds ?? 86400) * 1000
    const notAfter = new Date(Date.now() + validFor)
    const notBefore = new Date(Math.min(Date.now() - 60_000, notAfter.getTime() - 60_000))
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${request.commonName}`,
      issuer: root.subject,
      notBefore,
      notAfter,
      signingAlgorithm: algorithm,
      publicKey,
      signingKey: keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true
        ),
        new x509.ExtendedKeyUsageExtension(
          [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
          false
        ),
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
        await x509.AuthorityKeyIdentifierExtension.create(root, false)
      ]
    })
    return cert.toString('pem') + '\n'
  }

  return {
    certPem,
    keyPem,
    async issue(request) {
      if (request.publicKey) throw new Error('issue() makes its own key; use signCsr() for a CSR')
      const pair = (await crypto.subtle.generateKey(algorithm, true, [
        'sign',
        'verify'
      ])) as CryptoKeyPair
      return {
        certPem: await sign(request, pair.publicKey),
        keyPem: await exportKeyPem(pair.privateKey)
      }
    },
    async signCsr(csrPem, request) {
      const csr = new x509.Pkcs10CertificateRequest(csrPem)
      if (!(await csr.verify()))
        throw new Error('the certificate signing request has a bad signature')
      return sign(request, await csr.publicKey.export(crypto))
    }
  }
}
