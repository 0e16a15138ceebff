/* Thin N-API bindings for the few syscalls Node does not expose and the engine needs:
 * mknod (overlay whiteouts are char 0:0), extended attributes (overlay opaque markers,
 * security.capability) and mount/umount2 (overlay stacks inside our private mount namespace).
 * Every function throws an Error with .code = errno name on failure. */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/mount.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "napi call failed"); return NULL; } } while (0)

static const char *errname(int e) {
  switch (e) {
    case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EACCES: return "EACCES";
    case EEXIST: return "EEXIST"; case ENOTDIR: return "ENOTDIR"; case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC"; case EROFS: return "EROFS"; case ENOTSUP: return "ENOTSUP";
    case ENODATA: return "ENODATA"; case ERANGE: return "ERANGE"; case EBUSY: return "EBUSY";
    case E2BIG: return "E2BIG"; case ENAMETOOLONG: return "ENAMETOOLONG"; case ELOOP: return "ELOOP";
    case ENODEV: return "ENODEV"; case EFAULT: return "EFAULT"; default: return "EUNKNOWN";
  }
}

static napi_value throw_errno(napi_env env, const char *syscall, const char *path) {
  int e = errno;
  char msg[4200];
  snprintf(msg, sizeof msg, "%s: %s%s%s", errname(e), strerror(e), path ? ", " : "", path ? path : "");
  napi_value code, message, err, sc, en;
  napi_create_string_utf8(env, errname(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &err);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, err, "syscall", sc);
  napi_create_int32(env, -e, &en);
  napi_set_named_property(env, err, "errno", en);
  if (path) { napi_value p; napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &p); napi_set_named_property(env, err, "path", p); }
  napi_throw(env, err);
  return NULL;
}

/* Copies a JS string argument into a heap buffer (caller frees). NULL for null/undefined. */
static char *get_str(napi_env env, napi_value v) {
  napi_valuetype t; napi_typeof(env, v, &t);
  if (t != napi_string) return NULL;
  size_t len; napi_get_value_string_utf8(env, v, NULL, 0, &len);
  char *buf = malloc(len + 1);
  napi_get_value_string_utf8(env, v, buf, len + 1, &len);
  return buf;
}

static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *path = get_str(env, argv[0]);
  uint32_t mode, maj, min;
  CHECK(napi_get_value_uint32(env, argv[1], &mode));
  CHECK(napi_get_value_uint32(env, argv[2], &maj));
  CHECK(napi_get_value_uint32(env, argv[3], &min));
  if (mknod(path, mode, makedev(maj, min)) != 0) { napi_value r = throw_errno(env, "mknod", path); free(path); return r; }
  free(path);
  return NULL;
}

static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *path = get_str(env, argv[0]);
  char *name = get_str(env, argv[1]);
  void *data; size_t len;
  CHECK(napi_get_buffer_info(env, argv[2], &data, &len));
  int rc = lsetxattr(path, name, data, len, 0);
  napi_value r = NULL;
  if (rc != 0) r = throw_errno(env, "lsetxattr", path);
  free(path); free(name);
  return r;
}

/* Returns a Buffer, or null when the attribute is absent or xattrs are unsupported. */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *path = get_str(env, argv[0]);
  char *name = get_str(env, argv[1]);
  napi_value result;
  ssize_t n = lgetxattr(path, name, NULL, 0);
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP) { napi_get_null(env, &result); }
    else { result = throw_errno(env, "lgetxattr", path); }
    free(path); free(name); return result;
  }
  void *buf;
  napi_create_buffer(env, (size_t)n, &buf, &result);
  if (n > 0) {
    ssize_t m = lgetxattr(path, name, buf, (size_t)n);
    if (m < 0) { result = throw_errno(env, "lgetxattr", path); free(path); free(name); return result; }
    if (m != n) napi_create_buffer_copy(env, (size_t)m, buf, NULL, &result);
  }
  free(path); free(name);
  return result;
}

static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *path = get_str(env, argv[0]);
  napi_value arr; napi_create_array(env, &arr);
  ssize_t n = llistxattr(path, NULL, 0);
  if (n < 0) {
    if (errno == ENOTSUP) { free(path); return arr; }
    napi_value r = throw_errno(env, "llistxattr", path); free(path); return r;
  }
  if (n == 0) { free(path); return arr; }
  char *buf = malloc((size_t)n);
  ssize_t m = llistxattr(path, buf, (size_t)n);
  if (m < 0) { napi_value r = throw_errno(env, "llistxattr", path); free(buf); free(path); return r; }
  uint32_t i = 0;
  for (ssize_t off = 0; off < m; ) {
    size_t l = strlen(buf + off);
    napi_value s; napi_create_string_utf8(env, buf + off, l, &s);
    napi_set_element(env, arr, i++, s);
    off += (ssize_t)l + 1;
  }
  free(buf); free(path);
  return arr;
}

static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *src = get_str(env, argv[0]);
  char *target = get_str(env, argv[1]);
  char *fstype = get_str(env, argv[2]);
  double flags; CHECK(napi_get_value_double(env, argv[3], &flags));
  char *data = argc > 4 ? get_str(env, argv[4]) : NULL;
  napi_value r = NULL;
  if (mount(src, target, fstype, (unsigned long)flags, data) != 0) r = throw_errno(env, "mount", target);
  free(src); free(target); free(fstype); free(data);
  return r;
}

static napi_value js_umount2(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *target = get_str(env, argv[0]);
  int32_t flags; CHECK(napi_get_value_int32(env, argv[1], &flags));
  napi_value r = NULL;
  if (umount2(target, flags) != 0) r = throw_errno(env, "umount2", target);
  free(target);
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
    {"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
