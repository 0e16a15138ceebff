// Limits against decompression bombs: a layer is a stranger's archive; cap what unpacking it may cost.

export interface UnpackLimits {
  /** Total bytes of file contents written; default 64 GiB. */
  maxBytes?: number;
  /** Number of tar entries (headers) applied; default 5,000,000. */
  maxEntries?: number;
}

export const defaultUnpackLimits: Required<UnpackLimits> = {
  maxBytes: 64 * 1024 ** 3,
  maxEntries: 5_000_000,
};

export function resolveLimits(l: UnpackLimits | undefined): Required<UnpackLimits> {
  return {
    maxBytes: l?.maxBytes ?? defaultUnpackLimits.maxBytes,
    maxEntries: l?.maxEntries ?? defaultUnpackLimits.maxEntries,
  };
}
