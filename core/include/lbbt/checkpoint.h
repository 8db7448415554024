/* Checkpoint formats: safetensors (read + write), config.json, llama2.c .bin (read).
 *
 * Every reader treats its file as hostile: sizes, offsets and shapes in a header are checked
 * against the file before anything is allocated or read, with overflow-safe arithmetic.  A
 * file that does not follow its format fails with LBBT_E_INPUT and a message naming the file,
 * the tensor or header field, what was found and what was expected.  A valid file asking for
 * something this build cannot do (a quantized llama2.c export, an fp8 tensor read as f32)
 * fails with LBBT_E_UNSUPPORTED.  Writers are atomic: they write "<path>.tmp-XXXXXX" beside
 * the target, fsync it, rename it over the target and fsync the folder, so a crash leaves
 * either the old file or the new one, never half of one.
 *
 * ---- safetensors ------------------------------------------------------------------------
 * Format: u64 little-endian header length N, N bytes of JSON (an object: tensor name ->
 * {"dtype", "shape", "data_offsets": [begin, end]} plus an optional "__metadata__" object of
 * string -> string), then the data buffer; offsets are relative to the buffer's start.  As
 * the reference implementation requires, the tensors must tile the buffer exactly: sorted by
 * begin, each starts where the previous one ended and the last one ends at the end of file.
 *
 * lbbt_st_open(path) accepts
 *   - a folder: <folder>/model.safetensors.index.json if present, else <folder>/model.safetensors;
 *     <folder>/config.json, when present, is parsed and returned by lbbt_st_config();
 *   - a ".safetensors" (or any other) file: read as one safetensors file;
 *   - a "*.index.json" file: a sharded checkpoint; its "weight_map" (tensor name -> shard file
 *     name) is authoritative; shard file names are plain names in the index's own folder.
 * Tensors are listed sorted by name (lbbt_st_name(st, 0..count-1)).  Metadata pairs are the
 * file's "__metadata__"; for a sharded checkpoint, the shards' "__metadata__" merged in shard
 * order (the first value of a key wins).
 *
 * Dtypes: F32, F16, BF16 and F64 read as f32 (F16 subnormals/inf/nan and BF16 exactly; F64
 * rounded); I32, I64, I16, I8, U64, U32, U16, U8 and BOOL read as int32 with a range check.
 * F8_E4M3 and F8_E5M2 are recognised (so a file holding them opens) but cannot be read.
 * Any other dtype string makes the file invalid.
 *
 * An open lbbt_st is read-only; reads from several threads at once are safe (pread). */
#ifndef LBBT_CHECKPOINT_H
#define LBBT_CHECKPOINT_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lbbt/status.h"
#include "lbbt/tensor.h"

/* Most dims a safetensors tensor may have here (lbbt tensors themselves take LBBT_MAX_DIMS). */
#define LBBT_ST_MAX_DIMS 8
/* Largest accepted safetensors JSON header, as in the reference implementation (100 MB). */
#define LBBT_ST_MAX_HEADER 100000000ull

typedef enum lbbt_dtype {
  LBBT_DT_F32,
  LBBT_DT_F16,
  LBBT_DT_BF16,
  LBBT_DT_F64,
  LBBT_DT_I64,
  LBBT_DT_I32,
  LBBT_DT_I16,
  LBBT_DT_I8,
  LBBT_DT_U64,
  LBBT_DT_U32,
  LBBT_DT_U16,
  LBBT_DT_U8,
  LBBT_DT_BOOL,
  LBBT_DT_F8_E4M3,
  LBBT_DT_F8_E5M2,
  LBBT_DT_COUNT
} lbbt_dtype;

/* "F32", "BF16", ... as spelled in safetensors headers. */
LBBT_API const char *lbbt_dtype_name(lbbt_dtype dt);
/* Bytes per element. */
LBBT_API size_t lbbt_dtype_size(lbbt_dtype dt);
/* Parse a safetensors dtype string; returns 0 and sets *out, or -1 when unknown. */
LBBT_API int lbbt_dtype_parse(const char *s, lbbt_dtype *out);
/* Exact conversions of one IEEE binary16 / bfloat16 bit pattern to f32 (subnormals, signed
 * zeros, infinities and NaN payloads preserved). */
LBBT_API float lbbt_f16_to_f32(uint16_t bits);
LBBT_API float lbbt_bf16_to_f32(uint16_t bits);

/* One tensor of an open checkpoint.  Strings are owned by the lbbt_st. */
typedef struct lbbt_st_info {
  const char *name;
  lbbt_dtype dtype;
  int ndim;                          /* 0 for a scalar (shape []) */
  int64_t shape[LBBT_ST_MAX_DIMS];
  int64_t numel;                     /* product of shape (1 for a scalar) */
  const char *file;                  /* the file (shard) holding it, for messages */
  uint64_t offset;                   /* absolute byte offset of its data in that file */
  uint64_t nbytes;
} lbbt_st_info;

typedef struct lbbt_st lbbt_st;

/* Open and validate a checkpoint (see above).  *out is owned by the caller: lbbt_st_close. */
LBBT_API lbbt_status lbbt_st_open(const char *path, lbbt_st **out);
LBBT_API void lbbt_st_close(lbbt_st *st); /* NULL-safe */
/* The path given to lbbt_st_open. */
LBBT_API const char *lbbt_st_path(const lbbt_st *st);
LBBT_API int lbbt_st_count(const lbbt_st *st);
/* i-th tensor name in sorted order (NULL when i is out of range). */
LBBT_API const char *lbbt_st_name(const lbbt_st *st, int i);
LBBT_API const lbbt_st_info *lbbt_st_info_at(const lbbt_st *st, int i);
/* The tensor called name, or NULL when there is none (no error message set). */
LBBT_API const lbbt_st_info *lbbt_st_find(const lbbt_st *st, const char *name);
/* Like lbbt_st_find, but a missing name is an LBBT_E_INPUT error naming the checkpoint and
 * the nearest existing name. */
LBBT_API lbbt_status lbbt_st_get(const lbbt_st *st, const char *name, const lbbt_st_info **out);

/* Read a float tensor converted to f32 into dst (expect_numel floats).  Fails (LBBT_E_INPUT)
 * when the tensor is absent, not a float dtype, or has a different number of elements. */
LBBT_API lbbt_status lbbt_st_read_f32(const lbbt_st *st, const char *name, float *dst, int64_t expect_numel);
/* Read into t->data after checking the shape equals t's (a scalar [] matches [1]); the error
 * names the file, the tensor, t's shape and the checkpoint's shape. */
LBBT_API lbbt_status lbbt_st_read_into(const lbbt_st *st, const char *name, lbbt_tensor *t);
/* Read an integer (or BOOL) tensor converted to int32; a value outside int32 fails naming the
 * element index and value. */
LBBT_API lbbt_status lbbt_st_read_i32(const lbbt_st *st, const char *name, int32_t *dst,
                             int64_t expect_numel);

/* config.json of a folder checkpoint (NULL when absent or when a file path was opened).
 * Borrowed: valid until lbbt_st_close. */
LBBT_API json_t *lbbt_st_config(const lbbt_st *st);
/* __metadata__ pairs, in the order stored; strings owned by st. */
LBBT_API int lbbt_st_metadata_count(const lbbt_st *st);
LBBT_API const char *lbbt_st_metadata_key(const lbbt_st *st, int i);
LBBT_API const char *lbbt_st_metadata_value(const lbbt_st *st, int i);
/* The value for key, or NULL. */
LBBT_API const char *lbbt_st_metadata_get(const lbbt_st *st, const char *key);

/* ---- safetensors writer -------------------------------------------------------------------
 * Collects tensors and writes one file in the layout the reference library produces: header
 * entries "__metadata__" first, then F32 tensors sorted by name, then I32 tensors sorted by
 * name (the reference orders by dtype, widest-aligned first, then name); data in the same
 * order, contiguous; compact JSON padded with spaces to a multiple of 8 bytes; little endian.
 * Data pointers are borrowed and must stay valid until lbbt_st_writer_write returns; names,
 * shapes and metadata are copied. */
typedef struct lbbt_st_writer lbbt_st_writer;
LBBT_API lbbt_status lbbt_st_writer_create(lbbt_st_writer **out);
LBBT_API void lbbt_st_writer_free(lbbt_st_writer *w); /* NULL-safe */
/* shape has ndim (0..LBBT_ST_MAX_DIMS) entries >= 0; data has their product floats.  A repeated
 * name or "__metadata__" fails with LBBT_E_INPUT. */
LBBT_API lbbt_status lbbt_st_writer_add_f32(lbbt_st_writer *w, const char *name, int ndim,
                                   const int64_t *shape, const float *data);
LBBT_API lbbt_status lbbt_st_writer_add_i32(lbbt_st_writer *w, const char *name, int ndim,
                                   const int64_t *shape, const int32_t *data);
/* t's shape and data under name (t->name is not used). */
LBBT_API lbbt_status lbbt_st_writer_add_tensor(lbbt_st_writer *w, const char *name, const lbbt_tensor *t);
/* Set (or replace) one __metadata__ pair; keys are written sorted. */
LBBT_API lbbt_status lbbt_st_writer_set_metadata(lbbt_st_writer *w, const char *key, const char *value);
/* Write everything added so far to path, atomically.  The writer may be written again. */
LBBT_API lbbt_status lbbt_st_writer_write(lbbt_st_writer *w, const char *path);

/* ---- JSON files ---------------------------------------------------------------------------- */
/* Parse a JSON file whose top level is an object; errors (LBBT_E_INPUT) say file:line:col.
 * *out is a new reference owned by the caller (json_decref). */
LBBT_API lbbt_status lbbt_json_read_file(const char *path, json_t **out);
/* Write root atomically as 2-space-indented JSON with sorted keys and a final newline, the
 * way Hugging Face writes config.json. */
LBBT_API lbbt_status lbbt_json_write_file(const char *path, const json_t *root);

/* ---- llama2.c .bin ----------------------------------------------------------------------------
 * Two layouts are read (both little-endian f32):
 *  version 0 (legacy, run.c): 7 int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *    vocab_size, seq_len), a negative vocab_size meaning the classifier is NOT shared; then
 *    token_embedding_table, rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1, w2, w3,
 *    rms_final_weight, freq_cis_real, freq_cis_imag ([seq_len, head_size/2] each, skipped),
 *    and wcls when unshared.
 *  version 1 (export.py, magic 0x616b3432 "ak42"): 256-byte header (magic, version, the same 7
 *    int32 with a positive vocab_size, a shared-classifier byte, zero padding); then
 *    rms_att_weight, rms_ffn_weight, rms_final_weight, token_embedding_table, wq, wk, wv, wo,
 *    w1, w2, w3, [wcls].
 *  Version 2 (int8 Q8_0) is refused with LBBT_E_UNSUPPORTED; other versions are LBBT_E_INPUT.
 * The file size must equal what the header implies exactly.
 *
 * Arrays are row-major in PyTorch nn.Linear layout [out, in], stacked over layers first:
 *   token_embedding_table [vocab, dim]      rms_att_weight, rms_ffn_weight [L, dim]
 *   wq [L, n_heads*hs, dim]   wk, wv [L, n_kv_heads*hs, dim]   wo [L, dim, n_heads*hs]
 *   w1, w3 [L, hidden, dim]   w2 [L, dim, hidden]   rms_final_weight [dim]   wcls [vocab, dim]
 * with hs = dim / n_heads.  The q/k rows are in the interleaved-pair RoPE order llama2.c uses
 * (Meta's layout), NOT the half-split order of Hugging Face Llama checkpoints: the backbone
 * applies RoPE to match; nothing is permuted here.
 *
 * Hugging Face names (lbbt_llama2c_tensor) map as
 *   model.embed_tokens.weight                  token_embedding_table
 *   model.layers.{i}.input_layernorm.weight    rms_att_weight[i]
 *   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight   wq[i], wk[i], wv[i], wo[i]
 *   model.layers.{i}.post_attention_layernorm.weight   rms_ffn_weight[i]
 *   model.layers.{i}.mlp.gate_proj.weight      w1[i]
 *   model.layers.{i}.mlp.down_proj.weight      w2[i]
 *   model.layers.{i}.mlp.up_proj.weight        w3[i]
 *   model.norm.weight                          rms_final_weight
 *   lm_head.weight                             wcls (listed only when not shared, as HF's
 *                                              tie_word_embeddings) */
typedef struct lbbt_llama2c_config {
  int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  int head_size;         /* dim / n_heads */
  int kv_dim;            /* n_kv_heads * head_size */
  int shared_classifier; /* 1: wcls is token_embedding_table */
  int version;           /* 0 legacy, 1 "ak42" fp32 */
} lbbt_llama2c_config;

typedef struct lbbt_llama2c {
  lbbt_llama2c_config cfg;
  char path[512];
  float *token_embedding_table, *rms_att_weight, *wq, *wk, *wv, *wo, *rms_ffn_weight, *w1, *w2,
      *w3, *rms_final_weight;
  float *wcls; /* == token_embedding_table when shared */
  float *storage_; /* one allocation holding all of the above */
} lbbt_llama2c;

/* Load the whole file into memory.  *out is owned by the caller: lbbt_llama2c_free. */
LBBT_API lbbt_status lbbt_llama2c_load(const char *path, lbbt_llama2c **out);
LBBT_API void lbbt_llama2c_free(lbbt_llama2c *m); /* NULL-safe */
/* Bytes a file with this header must have (0 when the config is invalid or overflows). */
LBBT_API int64_t lbbt_llama2c_expected_size(const lbbt_llama2c_config *c);

/* A named view of one weight in Hugging Face naming (see the table above). */
typedef struct lbbt_named_f32 {
  char name[96];
  int ndim;
  int64_t shape[2];
  int64_t numel;
  const float *data; /* into the lbbt_llama2c; valid until lbbt_llama2c_free */
} lbbt_named_f32;
/* Number of named weights: 2 + 9 * n_layers, plus 1 (lm_head) when the classifier is unshared. */
LBBT_API int lbbt_llama2c_count(const lbbt_llama2c *m);
/* The i-th named weight (0 <= i < count): embed, per layer the nine in the table's order,
 * model.norm, then lm_head when unshared. */
LBBT_API lbbt_status lbbt_llama2c_tensor(const lbbt_llama2c *m, int i, lbbt_named_f32 *out);
/* Look a weight up by its Hugging Face name; LBBT_E_INPUT when there is none. */
LBBT_API lbbt_status lbbt_llama2c_find(const lbbt_llama2c *m, const char *name, lbbt_named_f32 *out);

/* ---- fingerprint ---------------------------------------------------------------------- */
/* The sha256 (64 hex chars + NUL) of a checkpoint's bytes: a file (plus the config.json
 * beside it, when present), or every regular file directly in a folder, in name order,
 * each with its name (subfolders such as snapshots are not included).  "" for an empty
 * path (no checkpoint).  A missing path is LBBT_E_INPUT; a read error LBBT_E_IO. */
LBBT_API lbbt_status lbbt_checkpoint_fingerprint(const char *path, char hex[65]);

#endif
