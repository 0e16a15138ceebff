/* Block deflate for parallel gzip, on libdeflate (Debian: libdeflate-dev), as a separate optional addon
 * (build/deflate.node): when libdeflate is missing the engine falls back to zlib (src/layer/parallel-gzip.ts).
 *
 * deflateBlock(input, output, level, last, callback) runs on the libuv pool: it deflates `input` into
 * `output` with libdeflate and computes the input's CRC-32. libdeflate only writes whole streams, so the
 * last DEFLATE block it emits carries BFINAL=1. For a block that is not the last of the layer we walk the
 * DEFLATE blocks it wrote (RFC 1951 §3.2.3-3.2.7: headers, stored lengths, Huffman symbols; no output is
 * produced), clear that BFINAL bit, and end the block exactly where its end-of-block code ends with an empty
 * stored block (3 zero bits, padding, LEN=0000 NLEN=FFFF): what zlib's Z_SYNC_FLUSH writes. The next block
 * then starts on a byte boundary and the concatenation of all blocks is one DEFLATE stream (as in pigz).
 *
 * crc32Combine(crc1, crc2, len2) is the CRC of A||B from crc(A), crc(B) and len(B): multiplication by
 * x^(8*len2) modulo the CRC-32 polynomial, with x^(2^k) precomputed (the method of zlib's crc32_combine). */
#define _GNU_SOURCE
#include <node_api.h>
#include <libdeflate.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "napi call failed"); return NULL; } } while (0)

/* ---------------------------------------------------------------- DEFLATE block walker */

typedef struct {
  const uint8_t *p;
  size_t nbits;  /* bits available */
  size_t pos;    /* next bit to read */
  int overrun;
} bits_t;

static inline uint64_t peek64(bits_t *b) {
  size_t byte = b->pos >> 3;
  size_t nbytes = (b->nbits + 7) >> 3;
  uint64_t v = 0;
  if (byte + 8 <= nbytes) {
    memcpy(&v, b->p + byte, 8);
  } else {
    for (size_t i = 0; byte + i < nbytes && i < 8; i++) v |= (uint64_t)b->p[byte + i] << (8 * i);
  }
  return v >> (b->pos & 7);
}

static inline uint32_t getbits(bits_t *b, unsigned n) {
  uint32_t v = n ? (uint32_t)(peek64(b) & ((1ull << n) - 1)) : 0;
  b->pos += n;
  if (b->pos > b->nbits) b->overrun = 1;
  return v;
}

#define MAXBITS 15
typedef struct {
  uint16_t e[1 << MAXBITS]; /* (symbol << 4) | code length; 0 = no code */
  unsigned bits;            /* table index width = longest code */
} huff_t;

/* Builds a canonical Huffman decoding table (RFC 1951 §3.2.2). Returns 0 on success, -1 for an
 * over-subscribed code. Incomplete codes are allowed (entries stay 0 and fail when decoded). */
static int huff_build(huff_t *h, const uint8_t *lens, unsigned n) {
  unsigned count[MAXBITS + 1] = {0}, next[MAXBITS + 1], maxlen = 0;
  for (unsigned i = 0; i < n; i++) {
    count[lens[i]]++;
    if (lens[i] > maxlen) maxlen = lens[i];
  }
  count[0] = 0;
  int left = 1;
  for (unsigned l = 1; l <= MAXBITS; l++) {
    left <<= 1;
    left -= (int)count[l];
    if (left < 0) return -1;
  }
  unsigned code = 0;
  for (unsigned l = 1; l <= MAXBITS; l++) {
    code = (code + count[l - 1]) << 1;
    next[l] = code;
  }
  if (maxlen == 0) maxlen = 1;
  h->bits = maxlen;
  memset(h->e, 0, sizeof(uint16_t) << maxlen);
  for (unsigned s = 0; s < n; s++) {
    unsigned l = lens[s];
    if (!l) continue;
    unsigned c = next[l]++, r = 0;
    for (unsigned i = 0; i < l; i++) r |= ((c >> i) & 1) << (l - 1 - i); /* codes are read LSB first */
    for (unsigned i = r; i < (1u << maxlen); i += 1u << l) h->e[i] = (uint16_t)((s << 4) | l);
  }
  return 0;
}

static inline int decode(bits_t *b, const huff_t *h) {
  uint16_t e = h->e[peek64(b) & ((1u << h->bits) - 1)];
  if (!(e & 15)) return -1;
  b->pos += e & 15;
  if (b->pos > b->nbits) b->overrun = 1;
  return e >> 4;
}

static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};

/* Skips the symbols of one Huffman block up to and including end-of-block. */
static int skip_symbols(bits_t *b, const huff_t *lit, const huff_t *dist) {
  for (;;) {
    int s = decode(b, lit);
    if (s < 0 || b->overrun) return -1;
    if (s < 256) continue;
    if (s == 256) return 0;
    if (s > 285) return -1;
    getbits(b, len_extra[s - 257]);
    int d = decode(b, dist);
    if (d < 0 || d > 29) return -1;
    getbits(b, d < 4 ? 0 : (unsigned)(d >> 1) - 1);
  }
}

typedef struct {
  huff_t lit, dist, cl;
} walker_t;

/* Finds the bit offset of the last block's header and the bit offset just past its end-of-block code. */
static int walk_blocks(walker_t *w, const uint8_t *p, size_t n, size_t *last_header, size_t *end) {
  static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  bits_t b = {p, n * 8, 0, 0};
  for (;;) {
    size_t header = b.pos;
    unsigned final = getbits(&b, 1), type = getbits(&b, 2);
    if (b.overrun) return -1;
    if (type == 0) {
      b.pos = (b.pos + 7) & ~(size_t)7;
      unsigned len = getbits(&b, 16), nlen = getbits(&b, 16);
      if (b.overrun || (len ^ 0xffff) != nlen) return -1;
      b.pos += (size_t)len * 8;
      if (b.pos > b.nbits) return -1;
    } else if (type == 1) {
      uint8_t lens[288];
      memset(lens, 8, 144);
      memset(lens + 144, 9, 112);
      memset(lens + 256, 7, 24);
      memset(lens + 280, 8, 8);
      huff_build(&w->lit, lens, 288);
      memset(lens, 5, 30);
      huff_build(&w->dist, lens, 30);
      if (skip_symbols(&b, &w->lit, &w->dist)) return -1;
    } else if (type == 2) {
      unsigned nlit = getbits(&b, 5) + 257, ndist = getbits(&b, 5) + 1, ncl = getbits(&b, 4) + 4;
      uint8_t cl[19] = {0}, lens[320] = {0};
      for (unsigned i = 0; i < ncl; i++) cl[order[i]] = (uint8_t)getbits(&b, 3);
      if (b.overrun || nlit > 286 || huff_build(&w->cl, cl, 19)) return -1;
      for (unsigned i = 0; i < nlit + ndist;) {
        int s = decode(&b, &w->cl);
        if (s < 0 || b.overrun) return -1;
        if (s < 16) {
          lens[i++] = (uint8_t)s;
          continue;
        }
        unsigned rep, val = 0;
        if (s == 16) {
          if (i == 0) return -1;
          val = lens[i - 1];
          rep = 3 + getbits(&b, 2);
        } else if (s == 17) {
          rep = 3 + getbits(&b, 3);
        } else {
          rep = 11 + getbits(&b, 7);
        }
        if (i + rep > nlit + ndist) return -1;
        while (rep--) lens[i++] = (uint8_t)val;
      }
      if (b.overrun || huff_build(&w->lit, lens, nlit) || huff_build(&w->dist, lens + nlit, ndist)) return -1;
      if (skip_symbols(&b, &w->lit, &w->dist)) return -1;
    } else {
      return -1;
    }
    if (b.overrun) return -1;
    if (final) {
      *last_header = header;
      *end = b.pos;
      return 0;
    }
  }
}

/* ---------------------------------------------------------------- compressors, one per pool thread and level */

static __thread struct libdeflate_compressor *compressors[13];
static __thread walker_t *walker;

static struct libdeflate_compressor *compressor_for(int level) {
  if (!compressors[level]) compressors[level] = libdeflate_alloc_compressor(level);
  return compressors[level];
}

/* ---------------------------------------------------------------- async work */

typedef struct {
  napi_async_work work;
  napi_ref in_ref, out_ref, cb_ref;
  const uint8_t *in;
  size_t in_len;
  uint8_t *out;
  size_t out_cap;
  int level;
  int last;
  size_t out_len;
  uint32_t crc;
  const char *error;
} job_t;

/* Room deflateBlock needs in `output` for `n` input bytes: libdeflate's bound plus the 5 bytes of the
 * sync-flush ending. */
static size_t out_bound(size_t n) {
  return libdeflate_deflate_compress_bound(NULL, n) + 5;
}

static void execute(napi_env env, void *data) {
  job_t *j = data;
  struct libdeflate_compressor *c = compressor_for(j->level);
  if (!c) {
    j->error = "out of memory allocating a libdeflate compressor";
    return;
  }
  j->crc = libdeflate_crc32(0, j->in, j->in_len);
  size_t n = libdeflate_deflate_compress(c, j->in, j->in_len, j->out, j->out_cap - 5);
  if (n == 0) {
    j->error = "output buffer too small";
    return;
  }
  if (!j->last) {
    if (!walker && !(walker = malloc(sizeof *walker))) {
      j->error = "out of memory";
      return;
    }
    size_t header, end;
    if (walk_blocks(walker, j->out, n, &header, &end) || (end + 7) / 8 != n) {
      j->error = "could not find the end of the DEFLATE stream libdeflate wrote";
      return;
    }
    j->out[header >> 3] &= (uint8_t)~(1u << (header & 7)); /* BFINAL = 0 */
    j->out[end >> 3] &= (uint8_t)((1u << (end & 7)) - 1);   /* nothing after the end-of-block code */
    size_t stored = (end + 3 + 7) / 8;                       /* + 3-bit stored header (0 0 0), padded */
    for (size_t i = (end >> 3) + 1; i < stored; i++) j->out[i] = 0;
    j->out[stored] = 0;
    j->out[stored + 1] = 0;
    j->out[stored + 2] = 0xff;
    j->out[stored + 3] = 0xff;
    n = stored + 4;
  }
  j->out_len = n;
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value cb, args[3], undef;
  napi_get_reference_value(env, j->cb_ref, &cb);
  napi_get_undefined(env, &undef);
  if (status != napi_ok || j->error) {
    napi_value msg;
    napi_create_string_utf8(env, j->error ? j->error : "deflate job cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &args[0]);
    napi_get_undefined(env, &args[1]);
    napi_get_undefined(env, &args[2]);
  } else {
    napi_get_null(env, &args[0]);
    napi_create_double(env, (double)j->out_len, &args[1]);
    napi_create_uint32(env, j->crc, &args[2]);
  }
  napi_delete_reference(env, j->in_ref);
  napi_delete_reference(env, j->out_ref);
  napi_delete_reference(env, j->cb_ref);
  napi_delete_async_work(env, j->work);
  free(j);
  napi_call_function(env, undef, cb, 3, args, NULL);
}

/* deflateBlock(input: Buffer, output: Buffer, level: number, last: boolean, cb(err, length, crc32)) */
static napi_value deflate_block(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "deflateBlock(input, output, level, last, callback)");
    return NULL;
  }
  bool is_buf;
  void *in, *out;
  size_t in_len, out_cap;
  int32_t level;
  bool last;
  napi_valuetype t;
  CHECK(napi_is_buffer(env, argv[0], &is_buf));
  if (!is_buf) { napi_throw_type_error(env, NULL, "input must be a Buffer"); return NULL; }
  CHECK(napi_is_buffer(env, argv[1], &is_buf));
  if (!is_buf) { napi_throw_type_error(env, NULL, "output must be a Buffer"); return NULL; }
  CHECK(napi_get_buffer_info(env, argv[0], &in, &in_len));
  CHECK(napi_get_buffer_info(env, argv[1], &out, &out_cap));
  CHECK(napi_get_value_int32(env, argv[2], &level));
  CHECK(napi_get_value_bool(env, argv[3], &last));
  CHECK(napi_typeof(env, argv[4], &t));
  if (t != napi_function) { napi_throw_type_error(env, NULL, "callback must be a function"); return NULL; }
  if (level < 0 || level > 12) { napi_throw_range_error(env, NULL, "level must be 0-12"); return NULL; }
  if (out_cap < out_bound(in_len)) { napi_throw_range_error(env, NULL, "output buffer smaller than deflateBound(input)"); return NULL; }
  job_t *j = calloc(1, sizeof *j);
  if (!j) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  j->in = in;
  j->in_len = in_len;
  j->out = out;
  j->out_cap = out_cap;
  j->level = level;
  j->last = last;
  napi_value name;
  CHECK(napi_create_reference(env, argv[0], 1, &j->in_ref));
  CHECK(napi_create_reference(env, argv[1], 1, &j->out_ref));
  CHECK(napi_create_reference(env, argv[4], 1, &j->cb_ref));
  CHECK(napi_create_string_utf8(env, "oci-s2i:deflate", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, execute, complete, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return NULL;
}

/* deflateBound(n): the output size deflateBlock needs for n input bytes. */
static napi_value deflate_bound(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  double n;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_double(env, argv[0], &n));
  if (!(n >= 0) || n > 1e15) { napi_throw_range_error(env, NULL, "bad length"); return NULL; }
  CHECK(napi_create_double(env, (double)out_bound((size_t)n), &r));
  return r;
}

/* ---------------------------------------------------------------- CRC-32 combination */

#define POLY 0xedb88320u

/* a(x) * b(x) modulo p(x), bit-reflected as CRC-32 is. */
static uint32_t multmodp(uint32_t a, uint32_t b) {
  uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
  }
  return p;
}

static uint32_t x2n[64]; /* x^(2^k) mod p(x) */

static uint32_t x8nmodp(uint64_t n) { /* x^(8n) mod p(x) */
  uint32_t p = 1u << 31; /* x^0 */
  unsigned k = 3;
  while (n) {
    if (n & 1) p = multmodp(x2n[k & 63], p);
    n >>= 1;
    k++;
  }
  return p;
}

static napi_value crc32_combine(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  uint32_t a, b;
  double len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_uint32(env, argv[0], &a));
  CHECK(napi_get_value_uint32(env, argv[1], &b));
  CHECK(napi_get_value_double(env, argv[2], &len));
  if (!(len >= 0) || len > 9007199254740991.0) { napi_throw_range_error(env, NULL, "bad length"); return NULL; }
  CHECK(napi_create_uint32(env, multmodp(x8nmodp((uint64_t)len), a) ^ b, &r));
  return r;
}

/* crc32(buf, crc): libdeflate's (PCLMUL) CRC-32, for tests and small inputs. */
static napi_value crc32(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  void *data;
  size_t len;
  uint32_t crc = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_buffer_info(env, argv[0], &data, &len));
  if (argc > 1) CHECK(napi_get_value_uint32(env, argv[1], &crc));
  CHECK(napi_create_uint32(env, libdeflate_crc32(crc, data, len), &r));
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  uint32_t p = 1u << 30; /* x^1 */
  x2n[0] = p;
  for (int k = 1; k < 64; k++) x2n[k] = p = multmodp(p, p);
  napi_value version;
  CHECK(napi_create_string_utf8(env, LIBDEFLATE_VERSION_STRING, NAPI_AUTO_LENGTH, &version));
  napi_property_descriptor props[] = {
    {"deflateBlock", NULL, deflate_block, NULL, NULL, NULL, napi_default, NULL},
    {"deflateBound", NULL, deflate_bound, NULL, NULL, NULL, napi_default, NULL},
    {"crc32Combine", NULL, crc32_combine, NULL, NULL, NULL, napi_default, NULL},
    {"crc32", NULL, crc32, NULL, NULL, NULL, napi_default, NULL},
    {"libdeflateVersion", NULL, NULL, NULL, NULL, version, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
