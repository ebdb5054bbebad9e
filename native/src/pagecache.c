/*
 * Dropping a file's pages from the page cache (posix_fadvise POSIX_FADV_DONTNEED), which Node's fs cannot do.
 *
 * The OTA downloader (agent/ota/staged-file.ts) drops each range once it is fsynced: a 200 MB firmware then
 * passes through a few MiB of page cache, reused block after block, instead of 200 MB of it. That keeps the
 * running services' cache, and on a VM that hands free memory back to its host it keeps the writes off pages
 * that fault through the host when touched again (docs/performance.md, "OTA download").
 *
 * The call runs on libuv's thread pool (freeing 4 MiB of cache takes ~0.2 ms, too long for the JS thread at
 * one call per block) and answers with a promise.
 *
 * Exports (registered by notify.c's Init):
 *   dropPageCache(fd: number, offset: number, length: number): Promise<undefined>
 *     rejects with an Error carrying errno and syscall 'posix_fadvise'; length 0 means to the file's end
 */
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagecache.h"

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int64_t offset;
  int64_t length;
  int err;
} DropWork;

static void drop_execute(napi_env env, void* data) {
  DropWork* w = data;
  /* posix_fadvise returns the error number; it does not set errno */
  w->err = posix_fadvise(w->fd, (off_t)w->offset, (off_t)w->length, POSIX_FADV_DONTNEED);
}

static void drop_complete(napi_env env, napi_status status, void* data) {
  DropWork* w = data;
  napi_value value = NULL;
  if (status == napi_ok && w->err == 0) {
    napi_get_undefined(env, &value);
    napi_resolve_deferred(env, w->deferred, value);
  } else {
    int err = status == napi_ok ? w->err : ECANCELED;
    char text[128];
    snprintf(text, sizeof text, "posix_fadvise fd %d: %s", w->fd, strerror(err));
    napi_value message = NULL, errno_value = NULL, syscall_value = NULL;
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &value);
    napi_create_int32(env, err, &errno_value);
    napi_create_string_utf8(env, "posix_fadvise", NAPI_AUTO_LENGTH, &syscall_value);
    napi_set_named_property(env, value, "errno", errno_value);
    napi_set_named_property(env, value, "syscall", syscall_value);
    napi_reject_deferred(env, w->deferred, value);
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

/* Reads a non-negative integer argument (a JS number); false with a TypeError pending otherwise. */
static bool int_arg(napi_env env, napi_value value, const char* name, int64_t max, int64_t* out) {
  napi_valuetype type;
  double d = -1;
  if (napi_typeof(env, value, &type) == napi_ok && type == napi_number) napi_get_value_double(env, value, &d);
  if (!(d >= 0 && d <= (double)max && d == (double)(int64_t)d)) {
    char text[128];
    snprintf(text, sizeof text, "%s: expected an integer from 0 to %lld", name, (long long)max);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

napi_value DropPageCache(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "dropPageCache(fd, offset, length): expected 3 arguments");
    return NULL;
  }
  int64_t fd, offset, length;
  /* 2^53: the largest integer a JS number holds exactly */
  const int64_t max_safe = (int64_t)1 << 53;
  if (!int_arg(env, argv[0], "fd", INT32_MAX, &fd) || !int_arg(env, argv[1], "offset", max_safe, &offset) ||
      !int_arg(env, argv[2], "length", max_safe, &length)) {
    return NULL;
  }
  DropWork* w = calloc(1, sizeof *w);
  if (w == NULL) {
    napi_throw_error(env, "ERR_OUT_OF_MEMORY", "out of memory");
    return NULL;
  }
  w->fd = (int)fd;
  w->offset = offset;
  w->length = length;
  napi_value promise, name;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "alink:dropPageCache", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, drop_execute, drop_complete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    /* a created deferred cannot be abandoned cleanly, but these fail only when the VM is already broken */
    free(w);
    napi_throw_error(env, "ERR_NAPI", "dropPageCache: could not queue the work");
    return NULL;
  }
  return promise;
}
