/**
 * One deploy target: a prefix in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, GCS interoperability),
 * reached with the maintained AWS SDK for JavaScript. Every storage failure becomes an ApiError that says what to
 * fix (credentials, bucket, endpoint), so a deploy refuses before it uploads anything.
 *
 * Layout under the prefix (the same as a bundle's public/ folder, so BUNDLE_URL or an R2 binding can read it):
 *   manifest.json            the live manifest: the one object whose replacement switches versions
 *   manifests/<sha256>.json  every manifest ever deployed, by the hash of its bytes (rollback copies one back)
 *   objects/<sha256>.json    content-addressed objects
 *   worker.js                the edge worker
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3'
import { ApiError } from '../../shared/errors'

export interface TargetAddress {
  bucket: string
  /** '' or ending in '/'. */
  prefix: string
}

export interface TargetCredentials {
  accessKeyId: string
  secretAccessKey: string
}

export interface TargetOptions {
  url: string
  endpoint?: string | undefined
  region?: string | undefined
  /** Explicit keys (a saved target); otherwise the SDK's standard environment/profile chain. */
  credentials?: TargetCredentials | undefined
}

const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/

export function parseTargetUrl(url: string): TargetAddress {
  const match = S3_URL.exec(url)
  if (!match) {
    throw new ApiError({
      code: 'invalid_input',
      message: `"${url}" is not a target: write s3://bucket/prefix (bucket names are 3-63 lowercase letters, digits, dots and dashes).`,
      path: ['to'],
    })
  }
  const rawPrefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '')
  if (rawPrefix.split('/').some((part) => part === '..' || part === '.')) {
    throw new ApiError({ code: 'invalid_input', message: 'A target prefix cannot contain "." or "..".', path: ['to'] })
  }
  return { bucket: match[1]!, prefix: rawPrefix === '' ? '' : `${rawPrefix}/` }
}

/** What the SDK said, as an ApiError an operator can act on. */
export function storageError(error: unknown, target: string, doing: string): ApiError {
  if (error instanceof ApiError) return error
  const name = (error as { name?: string }).name ?? 'Error'
  const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined
  const said = (error as Error).message || name
  if (name === 'NoSuchBucket' || (status === 404 && doing === 'list')) {
    return new ApiError({
      code: 'not_found',
      message: `The bucket of ${target} does not exist (or this endpoint does not serve it). Create it first, or check the bucket name and --endpoint.`,
      path: ['to'],
    })
  }
  if (
    [
      'InvalidAccessKeyId',
      'SignatureDoesNotMatch',
      'AccessDenied',
      'CredentialsProviderError',
      'ExpiredToken',
    ].includes(name) ||
    status === 403 ||
    status === 401
  ) {
    return new ApiError({
      code: 'forbidden',
      message: `The storage refused these credentials while ${doing} ${target} (${name}: ${said}). Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the profile, or the saved target's keys, and that they may read and write this bucket.`,
      path: ['to'],
    })
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(said)) {
    return new ApiError({
      code: 'forbidden',
      message: `No credentials for ${target}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or save the target with its keys in Settings.`,
      path: ['to'],
    })
  }
  return new ApiError({
    code: 'unavailable',
    message: `Cannot reach the storage for ${target} while ${doing} (${name}: ${said}). Check --endpoint and the network.`,
    path: ['to'],
  })
}

export interface StoredObject {
  key: string
  size: number
  lastModified: Date | null
}

/** A prefix in a bucket, with the few operations a deploy needs. */
export class S3Target {
  readonly address: TargetAddress
  private readonly client: S3Client

  constructor(readonly options: TargetOptions) {
    this.address = parseTargetUrl(options.url)
    this.client = new S3Client({
      region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Plain payloads: S3-compatible stores (R2, MinIO, s3rver) do not all accept the SDK's chunked checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5000, requestTimeout: 60_000 },
    })
  }

  get url(): string {
    return this.options.url
  }

  key(path: string): string {
    return `${this.address.prefix}${path}`
  }

  /** Every object under `path` (relative to the prefix), with keys relative to the prefix. */
  async list(path: string): Promise<StoredObject[]> {
    const out: StoredObject[] = []
    let token: string | undefined
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.address.bucket, Prefix: this.key(path), ContinuationToken: token }),
        )
        for (const item of page.Contents ?? []) {
          if (!item.Key) continue
          out.push({
            key: item.Key.slice(this.address.prefix.length),
            size: item.Size ?? 0,
            lastModified: item.LastModified ?? null,
          })
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    } catch (error) {
      throw storageError(error, this.url, 'list')
    }
    return out
  }

  /** The object's bytes, or null when there is none. */
  async get(path: string): Promise<Uint8Array | null> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.address.bucket, Key: this.key(path) }),
      )
      return response.Body ? await response.Body.transformToByteArray() : new Uint8Array()
    } catch (error) {
      const name = (error as { name?: string }).name
      if (name === 'NoSuchKey' || name === 'NotFound') return null
      throw storageError(error, this.url, 'reading')
    }
  }

  async put(path: string, body: string | Uint8Array, contentType: string, cacheControl: string): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.address.bucket,
          Key: this.key(path),
          Body: body,
          ContentType: contentType,
          CacheControl: cacheControl,
        }),
      )
    } catch (error) {
      throw storageError(error, this.url, 'writing')
    }
  }

  /** One DeleteObject per key: every S3-compatible store has it (multi-delete needs checksums some lack). */
  async delete(paths: string[]): Promise<void> {
    for (const path of paths) {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.address.bucket, Key: this.key(path) }))
      } catch (error) {
        throw storageError(error, this.url, 'deleting from')
      }
    }
  }

  close(): void {
    this.client.destroy()
  }
}
