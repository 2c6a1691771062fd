// SPDX-License-Identifier: AGPL-3.0-only
import sodium from 'sodium-native';
import { SecretBuf } from '@cora/memstore';
import { CryptoFormatError } from '../errors.ts';
import { TAG_LENGTH } from '../format.ts';
import { asBuffer } from './bytes.ts';
import { KEY_LENGTH } from './kdf.ts';

/** XChaCha20 nonce length (draft-irtf-cfrg-xchacha-03 §2). */
const XCHACHA_NONCE_LENGTH = 24;

function checkKeyAndNonce(key: SecretBuf, nonce: Uint8Array): void {
  if (!(key instanceof SecretBuf)) throw new TypeError('key must be a SecretBuf');
  if (key.length !== KEY_LENGTH) throw new RangeError(`key must be ${KEY_LENGTH} bytes, got ${key.length}`);
  if (!(nonce instanceof Uint8Array)) throw new TypeError('nonce must be a Uint8Array');
  // Checked here so a wrong size is a clear RangeError, not sodium-native's assertion.
  if (nonce.byteLength !== XCHACHA_NONCE_LENGTH) {
    throw new RangeError(`nonce must be ${XCHACHA_NONCE_LENGTH} bytes, got ${nonce.byteLength}`);
  }
}

/**
 * XChaCha20-Poly1305-IETF encryption (libsodium) of secret plaintext into `out`, which must be
 * exactly `plaintext.length + 16` bytes. The ciphertext is not secret; the plaintext is only
 * readable inside `use()`.
 */
export function aeadEncryptInto(
  out: Uint8Array,
  plaintext: SecretBuf,
  aad: Uint8Array,
  nonce: Uint8Array,
  key: SecretBuf,
): void {
  checkKeyAndNonce(key, nonce);
  if (out.byteLength !== plaintext.length + TAG_LENGTH) {
    throw new RangeError(`out must be ${plaintext.length + TAG_LENGTH} bytes, got ${out.byteLength}`);
  }
  plaintext.use((m) => {
    key.use((k) => {
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        asBuffer(out),
        asBuffer(m),
        asBuffer(aad),
        null,
        asBuffer(nonce),
        asBuffer(k),
      );
    });
  });
}

/**
 * XChaCha20-Poly1305-IETF decryption straight into new secure memory (architecture §4). libsodium
 * checks the tag before it writes any plaintext; on any failure the output is wiped and a
 * single `AUTH_FAILED` is thrown.
 * @throws CryptoFormatError `AUTH_FAILED` when the ciphertext is shorter than a tag or does
 *   not authenticate under `key`, `nonce` and `aad`.
 */
export function aeadDecrypt(
  ciphertext: Uint8Array,
  aad: Uint8Array,
  nonce: Uint8Array,
  key: SecretBuf,
): SecretBuf {
  checkKeyAndNonce(key, nonce);
  if (ciphertext.byteLength < TAG_LENGTH) {
    throw new CryptoFormatError('AUTH_FAILED', 'authentication failed (wrong passphrase or damaged file)');
  }
  const out = SecretBuf.alloc(ciphertext.byteLength - TAG_LENGTH);
  try {
    out.use((m) => {
      key.use((k) => {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
          asBuffer(m),
          null,
          asBuffer(ciphertext),
          asBuffer(aad),
          asBuffer(nonce),
          asBuffer(k),
        );
      });
    });
    return out;
  } catch (error) {
    out.wipe();
    // sodium-native throws a plain Error for a bad tag; nothing else can fail here after the
    // size checks above, so every failure reads as AUTH_FAILED (one code by design).
    throw new CryptoFormatError('AUTH_FAILED', 'authentication failed (wrong passphrase or damaged file)', {
      cause: error,
    });
  }
}
