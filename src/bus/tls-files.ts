import { webcrypto } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { writePrivateFile } from "./private-file.ts";

/**
 * Certificates for a local deployment: a CA of its own and a server certificate for loopback,
 * ECDSA P-256, made with @peculiar/x509 over Node's WebCrypto (no openssl binary needed on a
 * fresh machine). On a real deployment use your own CA's files instead (README §7).
 */
export type TlsFiles = {
  /** The CA clients pin: they trust no other. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
};

/** A client's certificate and key, for mutual TLS. */
export type ClientTlsFiles = { readonly certFile: string; readonly keyFile: string };

/** The names a local server answers to. */
const LOOPBACK = [
  { type: "ip", value: "127.0.0.1" },
  { type: "dns", value: "localhost" },
] as const;

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** Writes ca.pem, ca-key.pem, server.pem and server-key.pem into `dir` (keys readable by their owner only). */
export async function makeLocalTls(dir: string, validDays = 365, now = Date.now()): Promise<TlsFiles & { readonly caKeyFile: string }> {
  const caKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "CN=catopt-flow local CA",
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + validDays * DAY_MS),
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const server = await issue(
    ca,
    caKeys.privateKey,
    "CN=catopt-flow nats-server",
    [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    now,
    validDays,
    true,
  );
  const files = {
    caFile: path.join(dir, "ca.pem"),
    caKeyFile: path.join(dir, "ca-key.pem"),
    certFile: path.join(dir, "server.pem"),
    keyFile: path.join(dir, "server-key.pem"),
  };
  await writeFile(files.caFile, ca.toString("pem"));
  await writePrivate(files.caKeyFile, caKeys.privateKey);
  await writeFile(files.certFile, server.cert);
  await writePrivate(files.keyFile, server.key);
  return files;
}

/** A client certificate signed by the CA in `tls` (for servers that require one: mutual TLS). */
export async function makeClientTls(
  tls: { readonly caFile: string; readonly caKeyFile: string },
  dir: string,
  name: string,
  validDays = 365,
  now = Date.now(),
): Promise<ClientTlsFiles> {
  const ca = new x509.X509Certificate(await readFile(tls.caFile, "utf8"));
  const caKey = await importPrivate(await readFile(tls.caKeyFile, "utf8"));
  const client = await issue(ca, caKey, `CN=${name.replace(/[,=+<>#;"\\]/g, "_")}`, [x509.ExtendedKeyUsage.clientAuth], now, validDays, false);
  const files = { certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}-key.pem`) };
  await writeFile(files.certFile, client.cert);
  await writePrivate(files.keyFile, client.key);
  return files;
}

async function issue(
  ca: x509.X509Certificate,
  caKey: CryptoKey,
  subject: string,
  usages: readonly string[],
  now: number,
  validDays: number,
  forServer: boolean,
): Promise<{ cert: string; key: CryptoKey }> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: ca.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + validDays * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([...usages], false),
      ...(forServer ? [new x509.SubjectAlternativeNameExtension(LOOPBACK.map((n) => ({ type: n.type, value: n.value })))] : []),
    ],
  });
  return { cert: cert.toString("pem"), key: keys.privateKey };
}

const serial = (): string =>
  Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString("hex")
    .replace(/^[89a-f]/, "1");

async function writePrivate(file: string, key: CryptoKey): Promise<void> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  const pem = `-----BEGIN PRIVATE KEY-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END PRIVATE KEY-----\n`.replace("\n\n", "\n");
  await writePrivateFile(file, pem);
}

async function importPrivate(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  return webcrypto.subtle.importKey("pkcs8", der, ALGORITHM, false, ["sign"]);
}
