// The API's TLS: a CA of its own and a server certificate for 127.0.0.1/localhost, made once per
// state folder and kept there (kubeconfigs written earlier stay valid across restarts). Keys come
// from Node's crypto; node-forge only builds and signs the X.509 certificates.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';

export interface ApiTls {
  caCert: string;
  cert: string;
  key: string;
  /** Where the CA certificate lies (what a pod reads as its service account's ca.crt). */
  caFile: string;
}

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

/** Reads the CA and server certificate from `dir`, or makes and writes them. */
export async function loadOrCreateTls(dir: string): Promise<ApiTls> {
  const files = { caCert: join(dir, 'ca.crt'), cert: join(dir, 'apiserver.crt'), key: join(dir, 'apiserver.key') };
  try {
    const [caCert, cert, key] = await Promise.all([
      readFile(files.caCert, 'utf8'),
      readFile(files.cert, 'utf8'),
      readFile(files.key, 'utf8'),
    ]);
    return { caCert, cert, key, caFile: files.caCert };
  } catch {
    // First start on this state folder (or a partial one): make everything anew.
  }
  const made = createTls();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(files.key, made.key, 0o600);
  await writeAtomic(files.cert, made.cert, 0o644);
  await writeAtomic(files.caCert, made.caCert, 0o644);
  return { ...made, caFile: files.caCert };
}

function createTls(): Omit<ApiTls, 'caFile'> {
  const caKeys = rsaKeys();
  const now = new Date();
  const ca = certificate(caKeys.publicKey, [{ name: 'commonName', value: 'kaskade-local-ca' }], now);
  ca.setIssuer(ca.subject.attributes);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const serverKeys = rsaKeys();
  const server = certificate(serverKeys.publicKey, [{ name: 'commonName', value: 'kaskade-apiserver' }], now);
  server.setIssuer(ca.subject.attributes);
  server.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 2, value: 'kubernetes.default.svc' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ],
    },
  ]);
  server.sign(caKeys.privateKey, forge.md.sha256.create());
  return {
    caCert: forge.pki.certificateToPem(ca),
    cert: forge.pki.certificateToPem(server),
    key: serverKeys.privatePem,
  };
}

function rsaKeys(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey),
    privateKey: forge.pki.privateKeyFromPem(privateKey),
    privatePem: privateKey,
  };
}

function certificate(
  publicKey: forge.pki.rsa.PublicKey,
  subject: forge.pki.CertificateField[],
  now: Date,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialHex(randomBytes(16));
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + TEN_YEARS_MS);
  cert.setSubject(subject);
  return cert;
}

/**
 * A certificate serial from 16 random bytes, as DER wants it: positive (top bit clear) and
 * minimal (no leading zero byte, which OpenSSL rejects as "illegal padding").
 */
export function serialHex(random: Buffer): string {
  const bytes = Buffer.from(random);
  bytes[0] = 1 + ((bytes[0] ?? 0) % 0x7f);
  return bytes.toString('hex');
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
}
