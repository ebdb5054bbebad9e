/*
 * systemd's notify protocol (sd_notify(3)) as a Node-API addon.
 *
 * Node can neither bind nor send to an AF_UNIX SOCK_DGRAM socket (dgram knows only UDP), so the one datagram
 * per notification has to leave through C. The addon keeps no state: every call opens a socket, sends, and
 * closes it, which costs microseconds at the rates systemd expects (a watchdog ping every few seconds).
 *
 * Exports:
 *   send(socketPath: string, message: string): undefined   throws an Error carrying errno, syscall, address
 *   monotonicUsec(): bigint                                 CLOCK_MONOTONIC in microseconds (for RELOADING=1)
 *   dropPageCache(fd, offset, length): Promise<undefined>   see pagecache.c (registered here: one module, one Init)
 *   hashCreate, hashUpdate, hashCopy, hashDigest            see hash.c
 */
#include <node_api.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "pagecache.h"

/* systemd reads notifications into a buffer of this size (NOTIFY_BUFFER_MAX) and drops longer ones. */
#define NOTIFY_MAX_BYTES 4096
/* EINTR cannot loop forever: a signal storm is still bounded. */
#define MAX_EINTR_RETRIES 8

#define NAPI_CALL(env, call)                                                      \
  do {                                                                            \
    if ((call) != napi_ok) {                                                      \
      const napi_extended_error_info* info_ = NULL;                               \
      napi_get_last_error_info((env), &info_);                                    \
      bool pending_ = false;                                                      \
      napi_is_exception_pending((env), &pending_);                                \
      if (!pending_) {                                                            \
        napi_throw_error((env), "ERR_NAPI",                                       \
                         info_ && info_->error_message ? info_->error_message     \
                                                       : "Node-API call failed"); \
      }                                                                           \
      return NULL;                                                                \
    }                                                                             \
  } while (0)

/*
 * Throws an Error whose message reads like Node's own system errors ("sendto /run/x: Connection refused") and
 * which carries errno (positive), syscall and address; index.js adds the symbolic code (ECONNREFUSED).
 */
static napi_value throw_errno(napi_env env, int err, const char* syscall, const char* address) {
  char text[512];
  /* strerror is not thread-safe in general, but every caller runs on the JS thread that owns env. */
  snprintf(text, sizeof text, "%s %s: %s", syscall, address, strerror(err));
  napi_value message, error, errno_value, syscall_value, address_value;
  NAPI_CALL(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message));
  NAPI_CALL(env, napi_create_error(env, NULL, message, &error));
  NAPI_CALL(env, napi_create_int32(env, err, &errno_value));
  NAPI_CALL(env, napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value));
  NAPI_CALL(env, napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &address_value));
  NAPI_CALL(env, napi_set_named_property(env, error, "errno", errno_value));
  NAPI_CALL(env, napi_set_named_property(env, error, "syscall", syscall_value));
  NAPI_CALL(env, napi_set_named_property(env, error, "address", address_value));
  napi_throw(env, error);
  return NULL;
}

/* Reads a string argument into a malloc'd buffer; NULL with a TypeError pending when it is not a string. */
static char* string_arg(napi_env env, napi_value value, const char* name, size_t* length) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    char text[128];
    snprintf(text, sizeof text, "%s: expected a string", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
    return NULL;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return NULL;
  char* buf = malloc(len + 1);
  if (buf == NULL) {
    napi_throw_error(env, "ERR_OUT_OF_MEMORY", "out of memory");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, value, buf, len + 1, &len) != napi_ok) {
    free(buf);
    return NULL;
  }
  *length = len;
  return buf;
}

/*
 * Fills addr for "/path" (a filesystem socket) or "@name" (an abstract socket: the '@' stands for the leading
 * NUL byte, as in systemd). Returns 0 or an errno value.
 */
static int fill_address(const char* path, size_t path_len, struct sockaddr_un* addr, socklen_t* addr_len) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path_len == 0) return EINVAL;
  if (path[0] == '/') {
    /* room for the terminating NUL */
    if (path_len >= sizeof addr->sun_path) return ENAMETOOLONG;
    memcpy(addr->sun_path, path, path_len);
    *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + 1);
    return 0;
  }
  if (path[0] == '@') {
    if (path_len > sizeof addr->sun_path) return ENAMETOOLONG;
    addr->sun_path[0] = '\0';
    memcpy(addr->sun_path + 1, path + 1, path_len - 1);
    /* abstract names are not NUL-terminated: the length is part of the name */
    *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
    return 0;
  }
  /* systemd also knows vsock: addresses (for VMs); a gateway agent never runs there */
  return EAFNOSUPPORT;
}

static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "send(socketPath, message): expected 2 arguments");
    return NULL;
  }
  size_t path_len = 0, message_len = 0;
  char* path = string_arg(env, argv[0], "socketPath", &path_len);
  if (path == NULL) return NULL;
  char* message = string_arg(env, argv[1], "message", &message_len);
  if (message == NULL) {
    free(path);
    return NULL;
  }

  napi_value result = NULL;
  struct sockaddr_un addr;
  socklen_t addr_len = 0;
  int err = fill_address(path, path_len, &addr, &addr_len);
  if (err != 0) {
    throw_errno(env, err, "connect", path);
    goto done;
  }
  if (message_len == 0 || message_len > NOTIFY_MAX_BYTES) {
    throw_errno(env, EMSGSIZE, "sendto", path);
    goto done;
  }

  int type = SOCK_DGRAM;
#ifdef SOCK_CLOEXEC
  /* the agent spawns children; the socket must not leak into them even for the microseconds it is open */
  type |= SOCK_CLOEXEC;
#endif
  int fd = socket(AF_UNIX, type, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", path);
    goto done;
  }

  int flags = MSG_DONTWAIT;
#ifdef MSG_NOSIGNAL
  flags |= MSG_NOSIGNAL;
#endif
  /*
   * MSG_DONTWAIT: a receiver whose queue is full must not stall the event loop (which is what the watchdog is
   * there to detect); the caller gets EAGAIN and tries again at the next ping.
   */
  ssize_t sent = -1;
  for (int attempt = 0; attempt <= MAX_EINTR_RETRIES; attempt++) {
    sent = sendto(fd, message, message_len, flags, (const struct sockaddr*)&addr, addr_len);
    if (sent >= 0 || errno != EINTR) break;
  }
  if (sent < 0) {
    int send_errno = errno;
    close(fd);
    throw_errno(env, send_errno, "sendto", path);
    goto done;
  }
  close(fd);
  if ((size_t)sent != message_len) {
    /* a datagram is all or nothing; a short count would mean a truncated notification */
    throw_errno(env, EMSGSIZE, "sendto", path);
    goto done;
  }
  napi_get_undefined(env, &result);

done:
  free(path);
  free(message);
  return result;
}

static napi_value MonotonicUsec(napi_env env, napi_callback_info info) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return throw_errno(env, errno, "clock_gettime", "CLOCK_MONOTONIC");
  uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
  napi_value result;
  NAPI_CALL(env, napi_create_bigint_uint64(env, usec, &result));
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"monotonicUsec", NULL, MonotonicUsec, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dropPageCache", NULL, DropPageCache, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hashCreate", NULL, HashCreate, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hashUpdate", NULL, HashUpdate, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hashCopy", NULL, HashCopy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hashDigest", NULL, HashDigest, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
