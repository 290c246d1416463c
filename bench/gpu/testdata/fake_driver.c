/*
 * A fake CUDA driver, NVML and cuFile, for tests on machines without a GPU:
 * every symbol bench/ffi/cuda.ts, nvml.ts and cufile.ts bind, with the C
 * signatures of cuda.h, nvml.h and cufile.h, over host memory. It is a test double of the ABI, not
 * of the hardware: what it proves is that the TypeScript side passes the
 * right types, keeps its buffers alive, never calls a context-dependent
 * function off the thread that made the context current, and frees what it
 * allocates. Built by bench/gpu/_fake_driver.ts with `cc -shared -fPIC -pthread`.
 *
 * Like the driver: a context is current per thread (calls that need one
 * return CUDA_ERROR_INVALID_CONTEXT without it); stream-ordered copies run on
 * each stream's own thread, later than the call that queued them (after
 * `copy_delay_us`), so reusing a source buffer too early corrupts the copy;
 * device memory is counted in 2 MiB pages; cuGetErrorName knows only some
 * codes (NULL and CUDA_ERROR_INVALID_VALUE for the rest).
 *
 * cuFile here is its compatibility mode: cuFileRead preads into a bounce
 * buffer and copies into "device" memory; it wants the context current on
 * the calling thread (-CU_FILE_CUDA_CONTEXT_MISMATCH without), and refuses
 * (-1, errno EINVAL) what O_DIRECT refuses: an offset, size or device offset
 * that is not 4 KiB aligned on a descriptor opened with O_DIRECT.
 *
 * Knobs (fake_configure): devices, total memory, the status cuInit returns,
 * how waits on streams and events behave off the thread that called cuInit
 * (0 as the driver is documented, 1 they need a current context, 2 they fail
 * with CUDA_ERROR_UNKNOWN), and a delay per queued copy. Without fake_configure, WEIGHTBENCH_FAKE_CUDA_MEMORY sets
 * the memory (bytes), for dry runs of whole scripts through
 * WEIGHTBENCH_LIBCUDA and WEIGHTBENCH_LIBNVML.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

#define OK 0
#define E_INVALID_VALUE 1
#define E_OUT_OF_MEMORY 2
#define E_NOT_INITIALIZED 3
#define E_NO_DEVICE 100
#define E_INVALID_DEVICE 101
#define E_INVALID_IMAGE 200
#define E_INVALID_CONTEXT 201
#define E_INVALID_HANDLE 400
#define E_NOT_FOUND 500
#define E_NOT_READY 600

#define PAGE (2ull << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

static int initialized = 0;
static int device_count = 1;
static unsigned long long total_memory = 1ull << 30;
static int init_status = 0;
static int waits_need_context = 0;
static int waits_fail_off_thread = 0;
static pthread_t init_thread;
static long cufile_reads = 0;
static long cufile_buffers = 0;
static int copy_delay_us = 0;
static int configured = 0;
static unsigned long long used_memory = 0;
static unsigned long long pinned_bytes = 0;
static unsigned long long registered_bytes = 0;
static long live_allocations = 0;
static long async_copies = 0;
static long kernel_launches = 0;

struct context {
  int device;
  int retained;
};
static struct context contexts[8];
static __thread struct context *current = NULL;
static __thread struct context *pushed[16];
static __thread int pushed_count = 0;

#define NEED_INIT() \
  if (!initialized) return E_NOT_INITIALIZED
#define NEED_CONTEXT() \
  if (!current) return E_INVALID_CONTEXT

/* ---- device allocations ---- */
struct allocation {
  void *base;
  size_t size;
  int pinned;
  struct allocation *next;
};
static struct allocation *allocations = NULL;

static struct allocation *find(const void *p, size_t length, int pinned) {
  for (struct allocation *a = allocations; a; a = a->next) {
    if (a->pinned != pinned) continue;
    const char *base = a->base;
    if ((const char *)p >= base && (const char *)p + length <= base + a->size) return a;
  }
  return NULL;
}

static void add(void *base, size_t size, int pinned) {
  struct allocation *a = malloc(sizeof *a);
  a->base = base;
  a->size = size;
  a->pinned = pinned;
  a->next = allocations;
  allocations = a;
}

static int take(void *base, int pinned, size_t *size) {
  for (struct allocation **a = &allocations; *a; a = &(*a)->next) {
    if ((*a)->base == base && (*a)->pinned == pinned) {
      struct allocation *gone = *a;
      *size = gone->size;
      *a = gone->next;
      free(gone);
      return 1;
    }
  }
  return 0;
}

static unsigned long long pages(size_t size) { return (size + PAGE - 1) / PAGE * PAGE; }

/* ---- streams and events ---- */
struct event {
  int pending;       /* queued markers not yet reached */
  int recorded;
  double time_ms;    /* when the stream reached it */
};

struct item {
  int kind; /* 1 copy, 2 event */
  void *dst;
  const void *src;
  size_t n;
  struct event *event;
  struct item *next;
};

struct stream {
  pthread_t thread;
  struct item *head, *tail;
  int busy;
  int stopping;
};

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *stream_main(void *arg) {
  struct stream *s = arg;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (!s->head && !s->stopping) pthread_cond_wait(&changed, &lock);
    if (!s->head && s->stopping) break;
    struct item *it = s->head;
    s->busy = 1;
    pthread_mutex_unlock(&lock);
    if (it->kind == 1) {
      if (copy_delay_us) usleep(copy_delay_us);
      memcpy(it->dst, it->src, it->n);
    }
    pthread_mutex_lock(&lock);
    if (it->kind == 2) {
      it->event->time_ms = now_ms();
      it->event->pending--;
    }
    s->head = it->next;
    if (!s->head) s->tail = NULL;
    s->busy = 0;
    free(it);
    pthread_cond_broadcast(&changed);
  }
  pthread_mutex_unlock(&lock);
  return NULL;
}

static struct stream *streams[64];

static void enqueue(struct stream *s, struct item *it) {
  it->next = NULL;
  if (s->tail) s->tail->next = it; else s->head = it;
  s->tail = it;
  pthread_cond_broadcast(&changed);
}

static int stream_idle(struct stream *s) { return !s->head && !s->busy; }

/* waits, with the lock held, until every stream is idle: the NULL stream's ordering */
static void drain_all(void) {
  for (;;) {
    int idle = 1;
    for (int i = 0; i < 64; i++) if (streams[i] && !stream_idle(streams[i])) idle = 0;
    if (idle) return;
    pthread_cond_wait(&changed, &lock);
  }
}

/* ---- control ---- */
void fake_configure(int devices, unsigned long long memory, int init, int waits, int delay_us) {
  pthread_mutex_lock(&lock);
  device_count = devices;
  total_memory = memory;
  init_status = init;
  waits_need_context = waits == 1;
  waits_fail_off_thread = waits == 2;
  copy_delay_us = delay_us;
  initialized = 0;
  configured = 1;
  pthread_mutex_unlock(&lock);
}

/* out[0] used device bytes, [1] pinned bytes, [2] registered bytes, [3] live device
   allocations, [4] stream-ordered copies done, [5] kernel launches, [6] live streams,
   [7] cuFile reads done, [8] cuFile buffers registered */
void fake_stats(unsigned long long *out) {
  pthread_mutex_lock(&lock);
  int live_streams = 0;
  for (int i = 0; i < 64; i++) if (streams[i]) live_streams++;
  out[0] = used_memory;
  out[1] = pinned_bytes;
  out[2] = registered_bytes;
  out[3] = live_allocations;
  out[4] = async_copies;
  out[5] = kernel_launches;
  out[6] = live_streams;
  out[7] = cufile_reads;
  out[8] = cufile_buffers;
  pthread_mutex_unlock(&lock);
}

/* ---- CUDA driver API ---- */
CUresult cuInit(unsigned int flags) {
  if (flags != 0) return E_INVALID_VALUE;
  /* Outside tests (a dry run of a GPU script), the device's memory may come from the environment. */
  const char *memory = getenv("WEIGHTBENCH_FAKE_CUDA_MEMORY");
  if (!configured && memory) total_memory = strtoull(memory, NULL, 10);
  if (init_status) return init_status;
  if (device_count == 0) return E_NO_DEVICE;
  if (!initialized) init_thread = pthread_self();
  initialized = 1;
  return OK;
}

CUresult cuDriverGetVersion(int *version) {
  if (!version) return E_INVALID_VALUE;
  *version = 13000;
  return OK;
}

static const char *names[][3] = {
  {"0", "CUDA_SUCCESS", "no error"},
  {"1", "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
  {"2", "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
  {"3", "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
  {"100", "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
  {"101", "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
  {"200", "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
  {"201", "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
  {"400", "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
  {"500", "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
  {"600", "CUDA_ERROR_NOT_READY", "device not ready"},
  {"803", "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
   "system has unsupported display driver / cuda driver combination"},
};

static CUresult error_string(CUresult error, const char **out, int which) {
  if (!out) return E_INVALID_VALUE;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (atoi(names[i][0]) == error) {
      *out = names[i][which];
      return OK;
    }
  }
  *out = NULL;
  return E_INVALID_VALUE;
}

CUresult cuGetErrorName(CUresult error, const char **out) { return error_string(error, out, 1); }
CUresult cuGetErrorString(CUresult error, const char **out) { return error_string(error, out, 2); }

CUresult cuDeviceGetCount(int *count) {
  NEED_INIT();
  *count = device_count;
  return OK;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  NEED_INIT();
  if (ordinal < 0 || ordinal >= device_count) return E_INVALID_DEVICE;
  *device = ordinal;
  return OK;
}

#define CHECK_DEVICE(d) \
  if ((d) < 0 || (d) >= device_count) return E_INVALID_DEVICE

CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
  NEED_INIT();
  CHECK_DEVICE(dev);
  snprintf(name, len, "Fake CUDA Device %d", dev);
  return OK;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) {
  NEED_INIT();
  CHECK_DEVICE(dev);
  *bytes = total_memory;
  return OK;
}

CUresult cuDeviceGetPCIBusId(char *bus, int len, CUdevice dev) {
  NEED_INIT();
  CHECK_DEVICE(dev);
  snprintf(bus, len, "0000:%02X:00.0", 0x18 + dev);
  return OK;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, CUdevice dev) {
  NEED_INIT();
  CHECK_DEVICE(dev);
  switch (attribute) {
    case 16: *value = 132; break;
    case 40: *value = 3; break;
    case 75: *value = 9; break;
    case 76: *value = 0; break;
    default: *value = 0;
  }
  return OK;
}

CUresult cuDeviceGetUuid_v2(unsigned char *uuid, CUdevice dev) {
  NEED_INIT();
  CHECK_DEVICE(dev);
  for (int i = 0; i < 16; i++) uuid[i] = (unsigned char)(0x10 * dev + i);
  return OK;
}

CUresult cuDevicePrimaryCtxRetain(void **ctx, CUdevice dev) {
  NEED_INIT();
  CHECK_DEVICE(dev);
  pthread_mutex_lock(&lock);
  contexts[dev].device = dev;
  contexts[dev].retained++;
  pthread_mutex_unlock(&lock);
  *ctx = &contexts[dev];
  return OK;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  NEED_INIT();
  CHECK_DEVICE(dev);
  pthread_mutex_lock(&lock);
  int bad = contexts[dev].retained <= 0;
  if (!bad) contexts[dev].retained--;
  pthread_mutex_unlock(&lock);
  return bad ? E_INVALID_CONTEXT : OK;
}

CUresult cuCtxSetCurrent(void *ctx) {
  NEED_INIT();
  if (ctx) {
    struct context *c = ctx;
    if (c < contexts || c >= contexts + 8 || c->retained <= 0) return E_INVALID_CONTEXT;
  }
  current = ctx;
  return OK;
}

CUresult cuCtxGetCurrent(void **ctx) {
  NEED_INIT();
  *ctx = current;
  return OK;
}

CUresult cuCtxPushCurrent_v2(void *ctx) {
  NEED_INIT();
  struct context *c = ctx;
  if (!c || c < contexts || c >= contexts + 8 || c->retained <= 0) return E_INVALID_CONTEXT;
  if (pushed_count == 16) return E_OUT_OF_MEMORY;
  pushed[pushed_count++] = current;
  current = c;
  return OK;
}

CUresult cuCtxPopCurrent_v2(void **ctx) {
  NEED_INIT();
  if (pushed_count == 0) return E_INVALID_CONTEXT;
  if (ctx) *ctx = current;
  current = pushed[--pushed_count];
  return OK;
}

CUresult cuCtxSynchronize(void) {
  NEED_INIT();
  NEED_CONTEXT();
  pthread_mutex_lock(&lock);
  drain_all();
  pthread_mutex_unlock(&lock);
  return OK;
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total) {
  NEED_INIT();
  NEED_CONTEXT();
  pthread_mutex_lock(&lock);
  *free_bytes = total_memory - used_memory;
  *total = total_memory;
  pthread_mutex_unlock(&lock);
  return OK;
}

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t size) {
  NEED_INIT();
  NEED_CONTEXT();
  if (size == 0) return E_INVALID_VALUE;
  pthread_mutex_lock(&lock);
  if (used_memory + pages(size) > total_memory) {
    pthread_mutex_unlock(&lock);
    return E_OUT_OF_MEMORY;
  }
  void *p = NULL;
  if (posix_memalign(&p, 256, size) != 0) {
    pthread_mutex_unlock(&lock);
    return E_OUT_OF_MEMORY;
  }
  memset(p, 0xA5, size); /* fresh device memory is garbage, not zeros */
  add(p, size, 0);
  used_memory += pages(size);
  live_allocations++;
  pthread_mutex_unlock(&lock);
  *dptr = (CUdeviceptr)(uintptr_t)p;
  return OK;
}

CUresult cuMemFree_v2(CUdeviceptr dptr) {
  NEED_INIT();
  NEED_CONTEXT();
  size_t size;
  pthread_mutex_lock(&lock);
  drain_all();
  int found = take((void *)(uintptr_t)dptr, 0, &size);
  if (found) {
    used_memory -= pages(size);
    live_allocations--;
  }
  pthread_mutex_unlock(&lock);
  if (!found) return E_INVALID_VALUE;
  free((void *)(uintptr_t)dptr);
  return OK;
}

CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t n) {
  NEED_INIT();
  NEED_CONTEXT();
  pthread_mutex_lock(&lock);
  int ok = find((void *)(uintptr_t)dst, n, 0) != NULL;
  pthread_mutex_unlock(&lock);
  if (!ok) return E_INVALID_VALUE;
  memset((void *)(uintptr_t)dst, value, n);
  return OK;
}

CUresult cuMemHostAlloc(void **pp, size_t size, unsigned int flags) {
  NEED_INIT();
  NEED_CONTEXT();
  (void)flags;
  if (size == 0) return E_INVALID_VALUE;
  void *p = NULL;
  if (posix_memalign(&p, 4096, size) != 0) return E_OUT_OF_MEMORY;
  pthread_mutex_lock(&lock);
  add(p, size, 1);
  pinned_bytes += size;
  pthread_mutex_unlock(&lock);
  *pp = p;
  return OK;
}

CUresult cuMemFreeHost(void *p) {
  NEED_INIT();
  NEED_CONTEXT();
  size_t size;
  pthread_mutex_lock(&lock);
  int found = take(p, 1, &size);
  if (found) pinned_bytes -= size;
  pthread_mutex_unlock(&lock);
  if (!found) return E_INVALID_VALUE;
  memset(p, 0xDD, size); /* a copy still reading it would see the damage */
  free(p);
  return OK;
}

static struct { void *p; size_t n; } registrations[64];

CUresult cuMemHostRegister_v2(void *p, size_t size, unsigned int flags) {
  NEED_INIT();
  NEED_CONTEXT();
  (void)flags;
  if (!p || size == 0 || ((uintptr_t)p % 4096) != 0) return E_INVALID_VALUE;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < 64; i++) {
    if (!registrations[i].p) {
      registrations[i].p = p;
      registrations[i].n = size;
      registered_bytes += size;
      pthread_mutex_unlock(&lock);
      return OK;
    }
  }
  pthread_mutex_unlock(&lock);
  return E_OUT_OF_MEMORY;
}

CUresult cuMemHostUnregister(void *p) {
  NEED_INIT();
  NEED_CONTEXT();
  pthread_mutex_lock(&lock);
  for (int i = 0; i < 64; i++) {
    if (registrations[i].p == p) {
      registered_bytes -= registrations[i].n;
      registrations[i].p = NULL;
      pthread_mutex_unlock(&lock);
      return OK;
    }
  }
  pthread_mutex_unlock(&lock);
  return 713; /* CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED */
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
  NEED_INIT();
  NEED_CONTEXT();
  pthread_mutex_lock(&lock);
  drain_all();
  int ok = find((void *)(uintptr_t)dst, n, 0) != NULL && src;
  pthread_mutex_unlock(&lock);
  if (!ok) return E_INVALID_VALUE;
  memcpy((void *)(uintptr_t)dst, src, n);
  return OK;
}

CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
  NEED_INIT();
  NEED_CONTEXT();
  pthread_mutex_lock(&lock);
  drain_all();
  int ok = find((void *)(uintptr_t)src, n, 0) != NULL && dst;
  pthread_mutex_unlock(&lock);
  if (!ok) return E_INVALID_VALUE;
  memcpy(dst, (void *)(uintptr_t)src, n);
  return OK;
}

static struct stream *as_stream(void *handle) {
  for (int i = 0; i < 64; i++) if (streams[i] && streams[i] == handle) return streams[i];
  return NULL;
}

static CUresult queue_copy(void *dst, const void *src, size_t n, void *handle) {
  pthread_mutex_lock(&lock);
  if (!handle) {
    drain_all();
    pthread_mutex_unlock(&lock);
    memcpy(dst, src, n);
    return OK;
  }
  struct stream *s = as_stream(handle);
  if (!s) {
    pthread_mutex_unlock(&lock);
    return E_INVALID_HANDLE;
  }
  struct item *it = calloc(1, sizeof *it);
  it->kind = 1;
  it->dst = dst;
  it->src = src;
  it->n = n;
  async_copies++;
  enqueue(s, it);
  pthread_mutex_unlock(&lock);
  return OK;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, void *stream) {
  NEED_INIT();
  NEED_CONTEXT();
  pthread_mutex_lock(&lock);
  int ok = find((void *)(uintptr_t)dst, n, 0) != NULL && src;
  pthread_mutex_unlock(&lock);
  if (!ok) return E_INVALID_VALUE;
  return queue_copy((void *)(uintptr_t)dst, src, n, stream);
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, void *stream) {
  NEED_INIT();
  NEED_CONTEXT();
  pthread_mutex_lock(&lock);
  int ok = find((void *)(uintptr_t)src, n, 0) != NULL && dst;
  pthread_mutex_unlock(&lock);
  if (!ok) return E_INVALID_VALUE;
  return queue_copy(dst, (void *)(uintptr_t)src, n, stream);
}

CUresult cuStreamCreate(void **out, unsigned int flags) {
  NEED_INIT();
  NEED_CONTEXT();
  if (flags > 1) return E_INVALID_VALUE;
  struct stream *s = calloc(1, sizeof *s);
  pthread_mutex_lock(&lock);
  int slot = -1;
  for (int i = 0; i < 64; i++) if (!streams[i]) { slot = i; break; }
  if (slot < 0) {
    pthread_mutex_unlock(&lock);
    free(s);
    return E_OUT_OF_MEMORY;
  }
  streams[slot] = s;
  pthread_mutex_unlock(&lock);
  pthread_create(&s->thread, NULL, stream_main, s);
  *out = s;
  return OK;
}

CUresult cuStreamDestroy_v2(void *handle) {
  NEED_INIT();
  NEED_CONTEXT();
  pthread_mutex_lock(&lock);
  struct stream *s = as_stream(handle);
  if (!s) {
    pthread_mutex_unlock(&lock);
    return E_INVALID_HANDLE;
  }
  s->stopping = 1;
  pthread_cond_broadcast(&changed);
  for (int i = 0; i < 64; i++) if (streams[i] == s) streams[i] = NULL;
  pthread_mutex_unlock(&lock);
  pthread_join(s->thread, NULL);
  free(s);
  return OK;
}

static CUresult wait_check(void) {
  if (!initialized) return E_NOT_INITIALIZED;
  if (waits_need_context && !current) return E_INVALID_CONTEXT;
  if (waits_fail_off_thread && !pthread_equal(pthread_self(), init_thread)) return 999;
  return OK;
}

CUresult cuStreamQuery(void *handle) {
  CUresult r = wait_check();
  if (r) return r;
  pthread_mutex_lock(&lock);
  struct stream *s = as_stream(handle);
  r = !s ? E_INVALID_HANDLE : stream_idle(s) ? OK : E_NOT_READY;
  pthread_mutex_unlock(&lock);
  return r;
}

CUresult cuStreamSynchronize(void *handle) {
  CUresult r = wait_check();
  if (r) return r;
  pthread_mutex_lock(&lock);
  struct stream *s = as_stream(handle);
  if (!s) {
    pthread_mutex_unlock(&lock);
    return E_INVALID_HANDLE;
  }
  while (!stream_idle(s)) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  return OK;
}

CUresult cuEventCreate(void **out, unsigned int flags) {
  NEED_INIT();
  NEED_CONTEXT();
  if (flags > 7) return E_INVALID_VALUE;
  *out = calloc(1, sizeof(struct event));
  return OK;
}

CUresult cuEventDestroy_v2(void *handle) {
  NEED_INIT();
  NEED_CONTEXT();
  if (!handle) return E_INVALID_HANDLE;
  pthread_mutex_lock(&lock);
  struct event *e = handle;
  while (e->pending > 0) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  free(handle);
  return OK;
}

CUresult cuEventRecord(void *handle, void *stream) {
  NEED_INIT();
  NEED_CONTEXT();
  if (!handle) return E_INVALID_HANDLE;
  struct event *e = handle;
  pthread_mutex_lock(&lock);
  e->recorded = 1;
  if (!stream) {
    drain_all();
    e->time_ms = now_ms();
    pthread_mutex_unlock(&lock);
    return OK;
  }
  struct stream *s = as_stream(stream);
  if (!s) {
    pthread_mutex_unlock(&lock);
    return E_INVALID_HANDLE;
  }
  struct item *it = calloc(1, sizeof *it);
  it->kind = 2;
  it->event = e;
  e->pending++;
  enqueue(s, it);
  pthread_mutex_unlock(&lock);
  return OK;
}

CUresult cuEventQuery(void *handle) {
  CUresult r = wait_check();
  if (r) return r;
  if (!handle) return E_INVALID_HANDLE;
  pthread_mutex_lock(&lock);
  r = ((struct event *)handle)->pending > 0 ? E_NOT_READY : OK;
  pthread_mutex_unlock(&lock);
  return r;
}

CUresult cuEventSynchronize(void *handle) {
  CUresult r = wait_check();
  if (r) return r;
  if (!handle) return E_INVALID_HANDLE;
  struct event *e = handle;
  pthread_mutex_lock(&lock);
  while (e->pending > 0) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  return OK;
}

CUresult cuEventElapsedTime_v2(float *ms, void *start, void *end) {
  NEED_INIT();
  if (!start || !end || !ms) return E_INVALID_HANDLE;
  struct event *a = start, *b = end;
  pthread_mutex_lock(&lock);
  CUresult r = (!a->recorded || !b->recorded) ? E_INVALID_HANDLE
             : (a->pending || b->pending)     ? E_NOT_READY
                                              : OK;
  if (r == OK) *ms = (float)(b->time_ms - a->time_ms);
  pthread_mutex_unlock(&lock);
  return r;
}

CUresult cuEventElapsedTime(float *ms, void *start, void *end) {
  return cuEventElapsedTime_v2(ms, start, end);
}

struct module {
  int loaded;
};
struct function {
  char name[64];
};

CUresult cuModuleLoadData(void **out, const void *image) {
  NEED_INIT();
  NEED_CONTEXT();
  const char *text = image;
  if (!text || (strncmp(text, "//", 2) != 0 && strncmp(text, ".version", 8) != 0)) {
    return E_INVALID_IMAGE;
  }
  struct module *m = calloc(1, sizeof *m);
  m->loaded = 1;
  *out = m;
  return OK;
}

CUresult cuModuleUnload(void *handle) {
  NEED_INIT();
  NEED_CONTEXT();
  if (!handle) return E_INVALID_HANDLE;
  free(handle);
  return OK;
}

CUresult cuModuleGetFunction(void **out, void *module, const char *name) {
  NEED_INIT();
  NEED_CONTEXT();
  if (!module) return E_INVALID_HANDLE;
  if (strcmp(name, "fill_u32") != 0) return E_NOT_FOUND;
  struct function *f = calloc(1, sizeof *f); /* leaked, as the driver ties it to the module */
  strncpy(f->name, name, sizeof f->name - 1);
  *out = f;
  return OK;
}

/* fill_u32(unsigned int *out, unsigned int value, unsigned int n) */
CUresult cuLaunchKernel(void *function, unsigned int gx, unsigned int gy, unsigned int gz,
                        unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
                        void *stream, void **params, void **extra) {
  NEED_INIT();
  NEED_CONTEXT();
  (void)shared;
  (void)extra;
  if (!function || !params || gx == 0 || bx == 0 || gy == 0 || gz == 0 || by == 0 || bz == 0) {
    return E_INVALID_VALUE;
  }
  CUdeviceptr out = *(CUdeviceptr *)params[0];
  unsigned int value = *(unsigned int *)params[1];
  unsigned int n = *(unsigned int *)params[2];
  pthread_mutex_lock(&lock);
  if (stream) {
    struct stream *s = as_stream(stream);
    if (s) while (!stream_idle(s)) pthread_cond_wait(&changed, &lock);
  } else {
    drain_all();
  }
  int ok = find((void *)(uintptr_t)out, (size_t)n * 4, 0) != NULL;
  if (ok) kernel_launches++;
  pthread_mutex_unlock(&lock);
  if (!ok) return 700; /* CUDA_ERROR_ILLEGAL_ADDRESS */
  unsigned int total = gx * bx;
  for (unsigned int i = 0; i < n && i < total; i++) ((unsigned int *)(uintptr_t)out)[i] = value;
  return OK;
}

/* ---- NVML ---- */
typedef int nvmlReturn_t;
struct nvml_device {
  int index;
};
static struct nvml_device nvml_devices[8];
static int nvml_initialized = 0;

nvmlReturn_t nvmlInit_v2(void) {
  nvml_initialized++;
  return 0;
}

nvmlReturn_t nvmlShutdown(void) {
  if (nvml_initialized <= 0) return 1; /* NVML_ERROR_UNINITIALIZED */
  nvml_initialized--;
  return 0;
}

const char *nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 7: return "Insufficient Size";
    case 25: return "Argument version mismatch";
    default: return "Unknown Error";
  }
}

#define NVML_NEED_INIT() \
  if (nvml_initialized <= 0) return 1

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  NVML_NEED_INIT();
  snprintf(version, length, "580.00.01");
  return 0;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version) {
  NVML_NEED_INIT();
  *version = 13000;
  return 0;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
  NVML_NEED_INIT();
  *count = device_count;
  return 0;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device) {
  NVML_NEED_INIT();
  if (index >= (unsigned int)device_count) return 2;
  nvml_devices[index].index = index;
  *device = &nvml_devices[index];
  return 0;
}

nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *bus, void **device) {
  NVML_NEED_INIT();
  unsigned int domain, number, dev, function;
  if (sscanf(bus, "%x:%x:%x.%x", &domain, &number, &dev, &function) != 4) return 2;
  int index = (int)number - 0x18;
  if (index < 0 || index >= device_count) return 6; /* NVML_ERROR_NOT_FOUND */
  return nvmlDeviceGetHandleByIndex_v2(index, device);
}

#define NVML_DEVICE(d) \
  if (!(d)) return 2; \
  int index = ((struct nvml_device *)(d))->index; \
  (void)index

nvmlReturn_t nvmlDeviceGetName(void *device, char *name, unsigned int length) {
  NVML_NEED_INIT();
  NVML_DEVICE(device);
  snprintf(name, length, "Fake CUDA Device %d", index);
  return 0;
}

nvmlReturn_t nvmlDeviceGetUUID(void *device, char *uuid, unsigned int length) {
  NVML_NEED_INIT();
  NVML_DEVICE(device);
  unsigned char b[16];
  for (int i = 0; i < 16; i++) b[i] = (unsigned char)(0x10 * index + i);
  snprintf(uuid, length, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
           b[14], b[15]);
  return 0;
}

typedef struct {
  unsigned int version;
  unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(void *device, nvmlMemory_v2_t *memory) {
  NVML_NEED_INIT();
  NVML_DEVICE(device);
  if (sizeof(nvmlMemory_v2_t) != 40) return 999;
  if (memory->version != (40u | (2u << 24))) return 25;
  pthread_mutex_lock(&lock);
  memory->total = total_memory;
  memory->reserved = 4ull << 20;
  memory->used = used_memory + memory->reserved;
  memory->free = total_memory - memory->used;
  pthread_mutex_unlock(&lock);
  return 0;
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(void *device, unsigned int *value) {
  NVML_NEED_INIT();
  NVML_DEVICE(device);
  *value = 5;
  return 0;
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(void *device, unsigned int *value) {
  NVML_NEED_INIT();
  NVML_DEVICE(device);
  *value = 16;
  return 0;
}

nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(void *device, unsigned int *value) {
  NVML_NEED_INIT();
  NVML_DEVICE(device);
  if (index == 1) return 4; /* NVML_ERROR_NO_PERMISSION on device 1: reported, not thrown */
  *value = 5;
  return 0;
}

nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(void *device, unsigned int *value) {
  NVML_NEED_INIT();
  NVML_DEVICE(device);
  (void)value;
  return 3; /* NVML_ERROR_NOT_SUPPORTED, to exercise the null path */
}

nvmlReturn_t nvmlDeviceGetPcieThroughput(void *device, int counter, unsigned int *value) {
  NVML_NEED_INIT();
  NVML_DEVICE(device);
  if (counter != 0 && counter != 1) return 2;
  *value = counter == 0 ? 1234 : 56789;
  return 0;
}

typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
} nvmlProcessInfo_t;

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(void *device, unsigned int *count,
                                                     nvmlProcessInfo_t *infos) {
  NVML_NEED_INIT();
  NVML_DEVICE(device);
  if (sizeof(nvmlProcessInfo_t) != 24) return 999;
  if (*count < 2 || !infos) {
    *count = 2;
    return 7;
  }
  *count = 2;
  pthread_mutex_lock(&lock);
  infos[0].pid = (unsigned int)getpid();
  infos[0].usedGpuMemory = used_memory;
  infos[0].gpuInstanceId = 0xFFFFFFFFu;
  infos[0].computeInstanceId = 0xFFFFFFFFu;
  infos[1].pid = 1;
  infos[1].usedGpuMemory = 0xFFFFFFFFFFFFFFFFull; /* NVML_VALUE_NOT_AVAILABLE */
  infos[1].gpuInstanceId = 0xFFFFFFFFu;
  infos[1].computeInstanceId = 0xFFFFFFFFu;
  pthread_mutex_unlock(&lock);
  return 0;
}

/* ---- cuFile (compatibility mode) ---- */
typedef struct {
  int err;
  CUresult cu_err;
} CUfileError_t;

#define CUFILE_OK ((CUfileError_t){0, 0})
#define CU_FILE_CUDA_DRIVER_ERROR 5011
#define CU_FILE_CUDA_POINTER_INVALID 5012
#define CU_FILE_CUDA_CONTEXT_MISMATCH 5015
#define CU_FILE_INVALID_FILE_TYPE 5018
#define CU_FILE_INVALID_VALUE 5022
#define CU_FILE_MEMORY_ALREADY_REGISTERED 5023
#define CU_FILE_MEMORY_NOT_REGISTERED 5024
#define CU_FILE_HANDLE_NOT_REGISTERED 5027

struct cufile_descr {
  int type;
  union {
    int fd;
    void *handle;
  } handle;
  const void *fs_ops;
};

struct cufile_handle {
  int fd;
  int live;
};
static struct cufile_handle cufile_handles[64];
static struct { char *base; size_t n; } cufile_registered[64];
static int cufile_open = 0;

CUfileError_t cuFileDriverOpen(void) {
  if (!initialized) {
    CUresult r = cuInit(0);
    if (r) return (CUfileError_t){CU_FILE_CUDA_DRIVER_ERROR, r};
  }
  cufile_open = 1;
  return CUFILE_OK;
}

/* CUfileDrvProps_t as cufile.h lays it out: nvfs { major, minor, poll_thresh_size,
   max_direct_io_size, dstatusflags, dcontrolflags }, fflags, ... */
CUfileError_t cuFileDriverGetProperties(unsigned char *props) {
  if (!cufile_open) return (CUfileError_t){5001, 0};
  memset(props, 0, 56);
  unsigned int zero = 0, compat = 1u << 1;
  unsigned long long poll = 4, max_io = 16384;
  memcpy(props + 0, &zero, 4);
  memcpy(props + 4, &zero, 4);
  memcpy(props + 8, &poll, 8);
  memcpy(props + 16, &max_io, 8);
  memcpy(props + 24, &zero, 4);
  memcpy(props + 28, &compat, 4);
  return CUFILE_OK;
}

CUfileError_t cuFileHandleRegister(void **fh, struct cufile_descr *descr) {
  if (!cufile_open) return (CUfileError_t){5001, 0};
  if (!fh || !descr || descr->type != 1) return (CUfileError_t){CU_FILE_INVALID_VALUE, 0};
  if (fcntl(descr->handle.fd, F_GETFL) < 0) return (CUfileError_t){CU_FILE_INVALID_FILE_TYPE, 0};
  pthread_mutex_lock(&lock);
  for (int i = 0; i < 64; i++) {
    if (!cufile_handles[i].live) {
      cufile_handles[i].live = 1;
      cufile_handles[i].fd = descr->handle.fd;
      pthread_mutex_unlock(&lock);
      *fh = &cufile_handles[i];
      return CUFILE_OK;
    }
  }
  pthread_mutex_unlock(&lock);
  return (CUfileError_t){CU_FILE_INVALID_VALUE, 0};
}

void cuFileHandleDeregister(void *fh) {
  struct cufile_handle *h = fh;
  if (h >= cufile_handles && h < cufile_handles + 64) h->live = 0;
}

CUfileError_t cuFileBufRegister(const void *base, size_t length, int flags) {
  (void)flags;
  if (!current) return (CUfileError_t){CU_FILE_CUDA_DRIVER_ERROR, E_INVALID_CONTEXT};
  pthread_mutex_lock(&lock);
  if (!find(base, length, 0)) {
    pthread_mutex_unlock(&lock);
    return (CUfileError_t){CU_FILE_CUDA_POINTER_INVALID, 0};
  }
  for (int i = 0; i < 64; i++) {
    if (cufile_registered[i].base == base) {
      pthread_mutex_unlock(&lock);
      return (CUfileError_t){CU_FILE_MEMORY_ALREADY_REGISTERED, 0};
    }
  }
  for (int i = 0; i < 64; i++) {
    if (!cufile_registered[i].base) {
      cufile_registered[i].base = (char *)base;
      cufile_registered[i].n = length;
      cufile_buffers++;
      pthread_mutex_unlock(&lock);
      return CUFILE_OK;
    }
  }
  pthread_mutex_unlock(&lock);
  return (CUfileError_t){CU_FILE_INVALID_VALUE, 0};
}

CUfileError_t cuFileBufDeregister(const void *base) {
  pthread_mutex_lock(&lock);
  for (int i = 0; i < 64; i++) {
    if (cufile_registered[i].base == base) {
      cufile_registered[i].base = NULL;
      cufile_buffers--;
      pthread_mutex_unlock(&lock);
      return CUFILE_OK;
    }
  }
  pthread_mutex_unlock(&lock);
  return (CUfileError_t){CU_FILE_MEMORY_NOT_REGISTERED, 0};
}

long cuFileRead(void *fh, void *base, size_t size, long file_offset, long device_offset) {
  if (!current) return -CU_FILE_CUDA_CONTEXT_MISMATCH;
  struct cufile_handle *h = fh;
  if (!(h >= cufile_handles && h < cufile_handles + 64) || !h->live) {
    return -CU_FILE_HANDLE_NOT_REGISTERED;
  }
  char *dst = (char *)base + device_offset;
  pthread_mutex_lock(&lock);
  int ok = find(dst, size, 0) != NULL;
  pthread_mutex_unlock(&lock);
  if (!ok) return -CU_FILE_CUDA_POINTER_INVALID;
  int flags = fcntl(h->fd, F_GETFL);
  if ((flags & O_DIRECT) &&
      (file_offset % 4096 != 0 || size % 4096 != 0 || device_offset % 4096 != 0)) {
    errno = EINVAL;
    return -1;
  }
  void *bounce = NULL;
  if (posix_memalign(&bounce, 4096, size ? size : 4096) != 0) {
    errno = ENOMEM;
    return -1;
  }
  size_t done = 0;
  while (done < size) {
    ssize_t got = pread(h->fd, (char *)bounce + done, size - done, file_offset + (long)done);
    if (got < 0) {
      int saved = errno;
      free(bounce);
      errno = saved;
      return -1;
    }
    if (got == 0) break;
    done += (size_t)got;
  }
  memcpy(dst, bounce, done);
  free(bounce);
  pthread_mutex_lock(&lock);
  cufile_reads++;
  pthread_mutex_unlock(&lock);
  return (long)done;
}
