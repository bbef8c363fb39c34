import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { serialHex } from './tls.js';

describe('certificate serials', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 1024,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });

  // The random bytes that once made OpenSSL refuse the server's certificate (a leading zero byte).
  const worst = [Buffer.alloc(16), Buffer.from('000f' + 'ab'.repeat(14), 'hex'), Buffer.alloc(16, 0xff)];

  it.each(worst.map((b) => [b.toString('hex')]))('from random %s is positive, minimal, and OpenSSL reads it', (hex) => {
    const serial = serialHex(Buffer.from(hex, 'hex'));
    expect(serial).toMatch(/^[0-7][0-9a-f]{31}$/);
    expect(serial.startsWith('00')).toBe(false);
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
    cert.serialNumber = serial;
    cert.validity.notBefore = new Date();
    cert.validity.notAfter = new Date(Date.now() + 3_600_000);
    cert.setSubject([{ name: 'commonName', value: 'kaskade-test' }]);
    cert.setIssuer([{ name: 'commonName', value: 'kaskade-test' }]);
    cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
    expect(new X509Certificate(forge.pki.certificateToPem(cert)).serialNumber.toLowerCase()).toBe(serial);
  });
});
