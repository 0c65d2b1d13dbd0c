/** Self-signed CA + loopback server certificate for the real-component testbed (openssl CLI). */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCerts {
  /** PEM CA certificate that signed `cert`. */
  caCert: string;
  /** PEM server certificate (SANs: DNS:localhost, IP:127.0.0.1, IP:::1). */
  cert: string;
  /** PEM private key of `cert` (mode 0600). */
  key: string;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0] ?? ''} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * Write (or reuse, if all three already exist) `ca.pem`, `cert.pem` and `key.pem` in `dir`.
 * Keys are EC P-256; certificates are valid for 825 days.
 */
export async function makeCerts(dir: string): Promise<TestCerts> {
  await fs.mkdir(dir, { recursive: true });
  const caCert = path.join(dir, 'ca.pem');
  const caKey = path.join(dir, 'ca-key.pem');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const result: TestCerts = { caCert, cert, key };
  if ((await exists(caCert)) && (await exists(cert)) && (await exists(key))) return result;

  const csr = path.join(dir, 'server.csr');
  const ext = path.join(dir, 'server.ext');
  const ecParams = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

  // CA
  await openssl(
    [
      'req',
      '-x509',
      ...ecParams,
      '-nodes',
      '-keyout',
      caKey,
      '-out',
      caCert,
      '-days',
      '825',
      '-subj',
      '/CN=mailgate testbed CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  // Server key + CSR
  await openssl(['req', '-new', ...ecParams, '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost'], dir);
  await fs.writeFile(
    ext,
    [
      'basicConstraints = CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1',
      '',
    ].join('\n'),
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '825',
      '-sha256',
      '-extfile',
      ext,
    ],
    dir,
  );
  await fs.chmod(key, 0o600);
  await fs.chmod(caKey, 0o600);
  await fs.chmod(caCert, 0o644);
  await fs.chmod(cert, 0o644);
  await fs.rm(csr, { force: true });
  await fs.rm(ext, { force: true });
  return result;
}
