/*
 * Incremental digests (sha256, md5) whose updates run on libuv's thread pool, with the OpenSSL inside Node.
 *
 * The OTA downloader hashes each block while the thread pool writes it (agent/ota/staged-file.ts); done with
 * node:crypto that is ~120 ms of the JS thread per 200 MB, most of what it spends on a download
 * (docs/performance.md, "OTA download"). Here the update runs beside the write instead.
 *
 * Node's OpenSSL is reached through dlsym at run time, not linked nor built against headers: the addon builds
 * and loads where Node's OpenSSL symbols are not visible (Node built without them, or headers missing), and then
 * hashCreate answers undefined so that the caller uses node:crypto. The functions used have kept their ABI since
 * OpenSSL 1.1.0.
 *
 * Exports (registered by notify.c's Init):
 *   hashCreate(algorithm: string): object | undefined   an opaque hash state; undefined without OpenSSL
 *   hashUpdate(h, data: Buffer): Promise<undefined>     one at a time per state; data must stay unchanged till then
 *   hashCopy(h): object                                 a copy of the state (throws while an update runs)
 *   hashDigest(h): Buffer                               ends the state (throws while an update runs)
 */
#include <node_api.h>

#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct engine_st ENGINE;

typedef struct {
  const EVP_MD* (*get_digestbyname)(const char*);
  EVP_MD_CTX* (*ctx_new)(void);
  void (*ctx_free)(EVP_MD_CTX*);
  int (*init_ex)(EVP_MD_CTX*, const EVP_MD*, ENGINE*);
  int (*update)(EVP_MD_CTX*, const void*, size_t);
  int (*final_ex)(EVP_MD_CTX*, unsigned char*, unsigned int*);
  int (*copy_ex)(EVP_MD_CTX*, const EVP_MD_CTX*);
} Evp;

/* EVP_MAX_MD_SIZE */
#define MAX_DIGEST_BYTES 64

/* Resolved once per process and never changed after: the symbols of the process itself, not state of ours. */
static const Evp* evp(void) {
  static Evp table;
  static int state = 0; /* 0 not tried, 1 found, -1 missing */
  if (state == 0) {
    table.get_digestbyname = (const EVP_MD* (*)(const char*))dlsym(RTLD_DEFAULT, "EVP_get_digestbyname");
    table.ctx_new = (EVP_MD_CTX * (*)(void)) dlsym(RTLD_DEFAULT, "EVP_MD_CTX_new");
    table.ctx_free = (void (*)(EVP_MD_CTX*))dlsym(RTLD_DEFAULT, "EVP_MD_CTX_free");
    table.init_ex = (int (*)(EVP_MD_CTX*, const EVP_MD*, ENGINE*))dlsym(RTLD_DEFAULT, "EVP_DigestInit_ex");
    table.update = (int (*)(EVP_MD_CTX*, const void*, size_t))dlsym(RTLD_DEFAULT, "EVP_DigestUpdate");
    table.final_ex = (int (*)(EVP_MD_CTX*, unsigned char*, unsigned int*))dlsym(RTLD_DEFAULT, "EVP_DigestFinal_ex");
    table.copy_ex = (int (*)(EVP_MD_CTX*, const EVP_MD_CTX*))dlsym(RTLD_DEFAULT, "EVP_MD_CTX_copy_ex");
    bool all = table.get_digestbyname && table.ctx_new && table.ctx_free && table.init_ex && table.update &&
               table.final_ex && table.copy_ex;
    state = all ? 1 : -1;
  }
  return state == 1 ? &table : NULL;
}

typedef struct {
  EVP_MD_CTX* ctx;
  bool busy;  /* an update is on the thread pool */
  bool ended; /* digested */
} HashState;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref state_ref; /* keeps the state and the data alive while the pool reads them */
  napi_ref data_ref;
  HashState* state;
  const void* data;
  size_t length;
  int ok;
} UpdateWork;

static void state_finalize(napi_env env, void* data, void* hint) {
  HashState* s = data;
  evp()->ctx_free(s->ctx);
  free(s);
}

static napi_value wrap_state(napi_env env, EVP_MD_CTX* ctx) {
  HashState* s = calloc(1, sizeof *s);
  napi_value result = NULL;
  if (s == NULL) {
    evp()->ctx_free(ctx);
    napi_throw_error(env, "ERR_OUT_OF_MEMORY", "out of memory");
    return NULL;
  }
  s->ctx = ctx;
  if (napi_create_external(env, s, state_finalize, NULL, &result) != napi_ok) {
    state_finalize(env, s, NULL);
    return NULL;
  }
  return result;
}

/* The state behind `value`, or NULL with an error pending when it is none, or is busy or ended. */
static HashState* state_arg(napi_env env, napi_value value, const char* call) {
  napi_valuetype type;
  void* data = NULL;
  char text[128];
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external || napi_get_value_external(env, value, &data) != napi_ok) {
    snprintf(text, sizeof text, "%s: expected a state from hashCreate", call);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
    return NULL;
  }
  HashState* s = data;
  if (s->busy || s->ended) {
    snprintf(text, sizeof text, "%s: the state %s", call, s->busy ? "has an update under way" : "was digested");
    napi_throw_error(env, "ERR_INVALID_STATE", text);
    return NULL;
  }
  return s;
}

napi_value HashCreate(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  char name[16] = {0};
  size_t len = 0;
  napi_valuetype type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (type != napi_string || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hashCreate(algorithm): expected a string");
    return NULL;
  }
  const Evp* e = evp();
  if (e == NULL) {
    napi_get_undefined(env, &result);
    return result;
  }
  const EVP_MD* md = e->get_digestbyname(name);
  if (md == NULL) {
    char text[64];
    snprintf(text, sizeof text, "hashCreate: unknown algorithm %s", name);
    napi_throw_error(env, "ERR_CRYPTO_INVALID_DIGEST", text);
    return NULL;
  }
  EVP_MD_CTX* ctx = e->ctx_new();
  if (ctx == NULL || e->init_ex(ctx, md, NULL) != 1) {
    if (ctx != NULL) e->ctx_free(ctx);
    napi_throw_error(env, "ERR_CRYPTO_HASH_FAILED", "hashCreate: EVP_DigestInit_ex failed");
    return NULL;
  }
  return wrap_state(env, ctx);
}

static void update_execute(napi_env env, void* data) {
  UpdateWork* w = data;
  w->ok = evp()->update(w->state->ctx, w->data, w->length);
}

static void update_complete(napi_env env, napi_status status, void* data) {
  UpdateWork* w = data;
  w->state->busy = false;
  napi_value value = NULL;
  if (status == napi_ok && w->ok == 1) {
    napi_get_undefined(env, &value);
    napi_resolve_deferred(env, w->deferred, value);
  } else {
    napi_value message = NULL;
    napi_create_string_utf8(env, "hashUpdate: EVP_DigestUpdate failed", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &value);
    napi_reject_deferred(env, w->deferred, value);
  }
  napi_delete_reference(env, w->state_ref);
  napi_delete_reference(env, w->data_ref);
  napi_delete_async_work(env, w->work);
  free(w);
}

napi_value HashUpdate(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "hashUpdate(state, data): expected 2 arguments");
    return NULL;
  }
  HashState* s = state_arg(env, argv[0], "hashUpdate");
  if (s == NULL) return NULL;
  bool is_buffer = false;
  void* bytes = NULL;
  size_t length = 0;
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, argv[1], &bytes, &length) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hashUpdate: data: expected a Buffer");
    return NULL;
  }
  UpdateWork* w = calloc(1, sizeof *w);
  if (w == NULL) {
    napi_throw_error(env, "ERR_OUT_OF_MEMORY", "out of memory");
    return NULL;
  }
  w->state = s;
  w->data = bytes;
  w->length = length;
  napi_value promise, name;
  if (napi_create_reference(env, argv[0], 1, &w->state_ref) != napi_ok || napi_create_reference(env, argv[1], 1, &w->data_ref) != napi_ok ||
      napi_create_promise(env, &w->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "alink:hashUpdate", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, update_execute, update_complete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    /* these fail only when the VM is already broken; what was created stays, as small as it is */
    free(w);
    napi_throw_error(env, "ERR_NAPI", "hashUpdate: could not queue the work");
    return NULL;
  }
  s->busy = true;
  return promise;
}

napi_value HashCopy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  HashState* s = argc >= 1 ? state_arg(env, argv[0], "hashCopy") : NULL;
  if (s == NULL) {
    if (argc < 1) napi_throw_type_error(env, "ERR_MISSING_ARGS", "hashCopy(state): expected 1 argument");
    return NULL;
  }
  EVP_MD_CTX* ctx = evp()->ctx_new();
  if (ctx == NULL || evp()->copy_ex(ctx, s->ctx) != 1) {
    if (ctx != NULL) evp()->ctx_free(ctx);
    napi_throw_error(env, "ERR_CRYPTO_HASH_FAILED", "hashCopy: EVP_MD_CTX_copy_ex failed");
    return NULL;
  }
  return wrap_state(env, ctx);
}

napi_value HashDigest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL}, result = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  HashState* s = argc >= 1 ? state_arg(env, argv[0], "hashDigest") : NULL;
  if (s == NULL) {
    if (argc < 1) napi_throw_type_error(env, "ERR_MISSING_ARGS", "hashDigest(state): expected 1 argument");
    return NULL;
  }
  unsigned char digest[MAX_DIGEST_BYTES];
  unsigned int length = 0;
  s->ended = true;
  if (evp()->final_ex(s->ctx, digest, &length) != 1) {
    napi_throw_error(env, "ERR_CRYPTO_HASH_FAILED", "hashDigest: EVP_DigestFinal_ex failed");
    return NULL;
  }
  if (napi_create_buffer_copy(env, length, digest, NULL, &result) != napi_ok) return NULL;
  return result;
}
