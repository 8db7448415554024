/* Image folders in ImageNet / Tiny-ImageNet layout (see dataset.h).  The file list and labels
 * come first, the class-balanced subset is chosen from the labels, and only the chosen files
 * are decoded, in parallel. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_internal.h"

void data_str_list_free(str_list *l) {
  for (int64_t i = 0; i < l->n; i++) free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

lbbt_status data_str_list_push(str_list *l, const char *a, const char *b) {
  if (l->n == l->cap) {
    int64_t cap = l->cap ? 2 * l->cap : 64;
    char **items = realloc(l->items, (size_t)cap * sizeof *items);
    if (!items) return lbbt_fail(LBBT_E_NOMEM, "out of memory listing image files");
    l->items = items;
    l->cap = cap;
  }
  size_t la = strlen(a), lb = b ? strlen(b) : 0;
  char *s = malloc(la + lb + 2);
  if (!s) return lbbt_fail(LBBT_E_NOMEM, "out of memory listing image files");
  memcpy(s, a, la);
  if (b) {
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
  } else {
    s[la] = 0;
  }
  l->items[l->n++] = s;
  return LBBT_OK;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".jpg") == 0 ||
                 strcasecmp(dot, ".png") == 0);
}

/* Entries of dir (not starting with '.'), as full paths, split into sub-folders and image
 * files; each list sorted. */
lbbt_status data_list_dir(const char *dir, str_list *subdirs, str_list *images) {
  DIR *d = opendir(dir);
  if (!d) return lbbt_fail(LBBT_E_INPUT, "cannot open folder '%s': %s", dir, strerror(errno));
  lbbt_status st = LBBT_OK;
  int64_t sub0 = subdirs ? subdirs->n : 0, img0 = images ? images->n : 0;
  struct dirent *e;
  while (st == LBBT_OK && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
      st = lbbt_fail(LBBT_E_INPUT, "path too long under '%s'", dir);
      break;
    }
    int dir_entry = e->d_type == DT_DIR || ((e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) &&
                                            is_dir(path));
    if (dir_entry && subdirs) st = data_str_list_push(subdirs, path, NULL);
    else if (!dir_entry && images && is_image_name(e->d_name)) st = data_str_list_push(images, path, NULL);
  }
  closedir(d);
  if (subdirs && subdirs->n > sub0)
    qsort(subdirs->items + sub0, (size_t)(subdirs->n - sub0), sizeof(char *), cmp_str);
  if (images && images->n > img0)
    qsort(images->items + img0, (size_t)(images->n - img0), sizeof(char *), cmp_str);
  return st;
}

/* Every image file under dir, any depth, in sorted path order (depth-first). */
static lbbt_status list_images_recursive(const char *dir, str_list *images, int depth) {
  if (depth > 16) return lbbt_fail(LBBT_E_INPUT, "folder '%s' nests too deep (16 levels)", dir);
  str_list subdirs = {0}, here = {0};
  lbbt_status st = data_list_dir(dir, &subdirs, &here);
  /* merge files and sub-folders of this level in name order */
  int64_t i = 0, j = 0;
  while (st == LBBT_OK && (i < here.n || j < subdirs.n)) {
    if (j >= subdirs.n || (i < here.n && strcmp(here.items[i], subdirs.items[j]) < 0)) {
      st = data_str_list_push(images, here.items[i++], NULL);
    } else {
      st = list_images_recursive(subdirs.items[j++], images, depth + 1);
    }
  }
  data_str_list_free(&subdirs);
  data_str_list_free(&here);
  return st;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static int find_class(const str_list *classes, const char *name) {
  int lo = 0, hi = (int)classes->n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    int c = strcmp(base_name(classes->items[mid]), name);
    if (c == 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/* Labels grow with the file list. */
static lbbt_status push_label(int32_t **labels, int64_t *cap, int64_t n, int32_t label) {
  if (n >= *cap) {
    int64_t c = *cap ? 2 * *cap : 1024;
    int32_t *l = realloc(*labels, (size_t)c * sizeof *l);
    if (!l) return lbbt_fail(LBBT_E_NOMEM, "out of memory listing image files");
    *labels = l;
    *cap = c;
  }
  (*labels)[n] = label;
  return LBBT_OK;
}

/* Tiny-ImageNet val: images/ + val_annotations.txt lines "file<TAB>wnid<TAB>box...". */
static lbbt_status list_tiny_val(const char *val_dir, const str_list *classes, str_list *files,
                                 int32_t **labels, int64_t *cap) {
  char ann[4200], line[4096];
  snprintf(ann, sizeof ann, "%s/val_annotations.txt", val_dir);
  FILE *f = fopen(ann, "r");
  if (!f) return lbbt_fail(LBBT_E_INPUT, "cannot open '%s': %s", ann, strerror(errno));
  lbbt_status st = LBBT_OK;
  int line_no = 0;
  while (st == LBBT_OK && fgets(line, sizeof line, f)) {
    line_no++;
    char *save = NULL, *file = strtok_r(line, "\t\r\n", &save);
    if (!file) continue; /* blank line */
    char *wnid = strtok_r(NULL, "\t\r\n", &save);
    int k = wnid ? find_class(classes, wnid) : -1;
    if (k < 0) {
      st = lbbt_fail(LBBT_E_INPUT,
                     "%s:%d: %s; expected 'file<TAB>class' with a class among the %lld "
                     "folders of train/",
                     ann, line_no, wnid ? "class not found in train/" : "missing class column",
                     (long long)classes->n);
      break;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/images", val_dir);
    st = data_str_list_push(files, dir, file);
    if (st == LBBT_OK) st = push_label(labels, cap, files->n - 1, k);
  }
  fclose(f);
  return st;
}

/* Decode `n` chosen files into ds (image_size > 0: resized; else each must match ds's size).
 * Worker threads cannot report through the thread-local message, so a failure is recorded
 * per file and the first failing file is decoded again here to produce its message. */
static lbbt_status decode_all(lbbt_dataset *ds, char *const *paths, const int32_t *sel,
                              int image_size) {
  int64_t n = ds->n, numel = lbbt_dataset_image_numel(ds);
  uint8_t *ok = malloc(n ? (size_t)n : 1);
  if (!ok) return lbbt_fail(LBBT_E_NOMEM, "out of memory decoding images");
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; i++) {
    uint8_t *img = NULL;
    int h, w;
    ok[i] = lbbt_image_decode_rgb(paths[sel[i]], image_size, &img, &h, &w) == LBBT_OK &&
            h == ds->height && w == ds->width;
    if (ok[i]) memcpy(ds->pixels + i * numel, img, (size_t)numel);
    free(img);
  }
  lbbt_status st = LBBT_OK;
  for (int64_t i = 0; i < n && st == LBBT_OK; i++) {
    if (ok[i]) continue;
    uint8_t *img = NULL;
    int h, w;
    st = lbbt_image_decode_rgb(paths[sel[i]], image_size, &img, &h, &w);
    if (st == LBBT_OK)
      st = lbbt_fail(LBBT_E_INPUT,
                     "image '%s' is %dx%d but the first image is %dx%d; set data.image_size "
                     "to resize all images to one size",
                     paths[sel[i]], w, h, ds->width, ds->height);
    free(img);
  }
  free(ok);
  return st;
}

lbbt_status lbbt_dataset_load_folder(const char *root, int train, int image_size, int64_t limit,
                                     uint64_t subset_seed, const char *name, lbbt_dataset **out) {
  *out = NULL;
  if (!name) name = "folder";
  if (image_size < 0)
    return lbbt_fail(LBBT_E_INPUT, "image folder '%s': image_size %d is negative", root, image_size);
  if (limit < 0)
    return lbbt_fail(LBBT_E_INPUT, "image folder '%s': limit %lld is negative", root, (long long)limit);
  if (strlen(root) > 3000)
    return lbbt_fail(LBBT_E_INPUT, "image folder path is too long (%zu characters)", strlen(root));
  char train_dir[4096], val_dir[4096], probe[4200], tiny_images[4200];
  snprintf(train_dir, sizeof train_dir, "%s/train", root);
  snprintf(val_dir, sizeof val_dir, "%s/val", root);
  if (!is_dir(train_dir))
    return lbbt_fail(LBBT_E_INPUT,
                     "image folder '%s': no train/ sub-folder (expected root/train/<class>/ "
                     "images, ImageNet or Tiny-ImageNet layout)", root);
  lbbt_status st;
  str_list classes = {0}, files = {0};
  int32_t *labels = NULL, *sel = NULL;
  int64_t cap = 0;
  lbbt_dataset *ds = NULL;
  const char **names = NULL;
  LBBT_TRY_GOTO(st, data_list_dir(train_dir, &classes, NULL), done);
  if (classes.n == 0) {
    st = lbbt_fail(LBBT_E_INPUT, "image folder '%s' has no class sub-folders", train_dir);
    goto done;
  }
  const char *split_dir = train ? train_dir : val_dir;
  /* Tiny-ImageNet's own val layout, unless it was reorganised into class folders */
  snprintf(probe, sizeof probe, "%s/val_annotations.txt", val_dir);
  snprintf(tiny_images, sizeof tiny_images, "%s/images", val_dir);
  if (train) {
    for (int64_t k = 0; k < classes.n; k++) {
      int64_t before = files.n;
      LBBT_TRY_GOTO(st, list_images_recursive(classes.items[k], &files, 0), done);
      for (int64_t i = before; i < files.n; i++)
        LBBT_TRY_GOTO(st, push_label(&labels, &cap, i, (int32_t)k), done);
    }
  } else if (access(probe, R_OK) == 0 && is_dir(tiny_images)) {
    LBBT_TRY_GOTO(st, list_tiny_val(val_dir, &classes, &files, &labels, &cap), done);
  } else if (is_dir(val_dir)) {
    str_list val_classes = {0};
    st = data_list_dir(val_dir, &val_classes, NULL);
    for (int64_t v = 0; st == LBBT_OK && v < val_classes.n; v++) {
      int k = find_class(&classes, base_name(val_classes.items[v]));
      if (k < 0) {
        st = lbbt_fail(LBBT_E_INPUT, "image folder: '%s' is not a class of '%s'",
                       val_classes.items[v], train_dir);
        break;
      }
      int64_t before = files.n;
      st = list_images_recursive(val_classes.items[v], &files, 0);
      for (int64_t i = before; st == LBBT_OK && i < files.n; i++)
        st = push_label(&labels, &cap, i, (int32_t)k);
    }
    data_str_list_free(&val_classes);
    if (st != LBBT_OK) goto done;
  } else {
    st = lbbt_fail(LBBT_E_INPUT,
                   "image folder '%s': no test split; expected val/<class>/ images or "
                   "val/images/ with val/val_annotations.txt (Tiny-ImageNet)", root);
    goto done;
  }
  if (files.n == 0) {
    st = lbbt_fail(LBBT_E_INPUT, "image folder '%s' holds no .JPEG/.jpg/.jpeg/.png files",
                   split_dir);
    goto done;
  }
  if (files.n > INT32_MAX) {
    st = lbbt_fail(LBBT_E_INPUT, "image folder '%s' holds more than 2^31-1 images", split_dir);
    goto done;
  }
  int64_t n_sel = limit > 0 ? limit : files.n;
  sel = malloc((size_t)n_sel * sizeof *sel);
  if (!sel) {
    st = lbbt_fail(LBBT_E_NOMEM, "out of memory choosing images");
    goto done;
  }
  if (limit > 0) {
    char what[4200];
    snprintf(what, sizeof what, "image folder '%s'", split_dir);
    LBBT_TRY_GOTO(st, lbbt_subset_balanced(labels, files.n, (int)classes.n, limit, subset_seed,
                                           train ? "train" : "test", what, sel), done);
  } else {
    for (int64_t i = 0; i < n_sel; i++) sel[i] = (int32_t)i;
  }
  int h = image_size, w = image_size;
  if (image_size == 0) { /* native: the first chosen image sets the size */
    uint8_t *img = NULL;
    LBBT_TRY_GOTO(st, lbbt_image_decode_rgb(files.items[sel[0]], 0, &img, &h, &w), done);
    free(img);
  }
  LBBT_TRY_GOTO(st, lbbt_dataset_create(n_sel, 3, h, w, (int)classes.n, &ds), done);
  for (int64_t i = 0; i < n_sel; i++) ds->labels[i] = labels[sel[i]];
  LBBT_TRY_GOTO(st, decode_all(ds, files.items, sel, image_size), done);
  if (!lbbt_dataset_norm_lookup(name, ds->mean, ds->std)) lbbt_dataset_compute_norm(ds);
  names = malloc((size_t)classes.n * sizeof *names);
  if (!names) {
    st = lbbt_fail(LBBT_E_NOMEM, "out of memory for class names");
    goto done;
  }
  for (int64_t k = 0; k < classes.n; k++) names[k] = base_name(classes.items[k]);
  LBBT_TRY_GOTO(st, lbbt_dataset_set_class_names(ds, names, (int)classes.n), done);
  LBBT_TRY_GOTO(st, lbbt_dataset_set_source(ds, "%s %s (%s)", name, train ? "train" : "test",
                                            split_dir), done);
  if (limit > 0)
    st = lbbt_dataset_append_source(ds, ", %lld class-balanced of %lld, subset seed %llu",
                                    (long long)limit, (long long)files.n,
                                    (unsigned long long)subset_seed);
  else
    st = lbbt_dataset_append_source(ds, ", all %lld", (long long)files.n);
  if (st == LBBT_OK && image_size > 0)
    st = lbbt_dataset_append_source(ds, ", resized to %dx%d (bilinear)", image_size, image_size);
  if (st != LBBT_OK) goto done;
  *out = ds;
  ds = NULL;
done:
  data_str_list_free(&classes);
  data_str_list_free(&files);
  free(labels);
  free(sel);
  free(names);
  lbbt_dataset_free(ds);
  return st;
}
