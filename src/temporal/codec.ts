import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

/** The `encoding` metadata of a payload this codec encrypted. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata naming the key a payload was encrypted with, so old keys keep decrypting after a rotation. */
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** AES-256 key length, in bytes. */
export const CODEC_KEY_BYTES = 32;

/** One codec key: its id (stored in each payload's metadata) and 32 bytes of key. */
export interface CodecKey {
  readonly id: string;
  /** Never logged. */
  readonly key: Buffer;
}

/** A payload names a key id this process does not have (it was rotated out too early). */
export class CodecKeyUnknownError extends Error {
  override readonly name = 'CodecKeyUnknownError';
  constructor(readonly keyId: string) {
    super(`payload encrypted with key id ${JSON.stringify(keyId)}, which is not in SUNDIAL_CODEC_KEYS`);
  }
}

/** A payload's ciphertext does not authenticate under its key: corrupted, or the key was changed under its id. */
export class CodecDecryptError extends Error {
  override readonly name = 'CodecDecryptError';
  constructor(readonly keyId: string) {
    super(`payload encrypted with key id ${JSON.stringify(keyId)} does not decrypt with that key`);
  }
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined): string | undefined =>
  b === null || b === undefined ? undefined : new TextDecoder().decode(b);

/**
 * AES-256-GCM over whole payloads (metadata and data), as Temporal's encryption samples do: the
 * original payload is serialized, encrypted with a fresh 96-bit IV, and carried as
 * `iv | ciphertext | tag` with `encoding: binary/encrypted` and the key id in the metadata. The
 * first key encrypts; every key decrypts. Payloads without that encoding pass through
 * unchanged, so histories written before the codec was turned on still read.
 */
export class AesGcmCodec implements PayloadCodec {
  private readonly byId: ReadonlyMap<string, Buffer>;
  private readonly current: CodecKey;

  /** @throws Error when `keys` is empty or a key is not 32 bytes. */
  constructor(keys: readonly CodecKey[]) {
    if (keys.length === 0) throw new Error('AesGcmCodec needs at least one key');
    for (const k of keys)
      if (k.key.length !== CODEC_KEY_BYTES)
        throw new Error(`codec key ${JSON.stringify(k.id)} must be ${CODEC_KEY_BYTES} bytes`);
    this.current = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  /** @throws CodecKeyUnknownError, CodecDecryptError */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  private encrypt(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    // The key id is authenticated too: a payload relabelled with another id does not decrypt.
    cipher.setAAD(Buffer.from(this.current.id, 'utf8'));
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(this.current.id) },
      data,
    };
  }

  private decrypt(payload: Payload): Payload {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]) ?? '';
    const key = this.byId.get(keyId);
    if (key === undefined) throw new CodecKeyUnknownError(keyId);
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new CodecDecryptError(keyId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      const decoded = temporal.api.common.v1.Payload.decode(plain);
      return { metadata: decoded.metadata, data: decoded.data };
    } catch {
      throw new CodecDecryptError(keyId);
    }
  }
}

/**
 * The data converter of every Temporal client and worker Sundial makes: the SDK's default, plus
 * the AES-GCM codec when codec keys are configured (undefined keys: the SDK default unchanged).
 */
export function sundialDataConverter(keys: readonly CodecKey[] | undefined): DataConverter {
  return keys === undefined || keys.length === 0 ? {} : { payloadCodecs: [new AesGcmCodec(keys)] };
}
