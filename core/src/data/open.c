/* lbbt_dataset_open: dataset name + root -> loader, subset, resize, provenance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/spec.h" /* lbbt_data_spec */
#include "data/data_internal.h"

#define FASHION_MNIST_DEFAULT_ROOT "/usr/share/datasets/fashion-mnist"

static const char *const DATASET_NAMES[] = {"fashion-mnist", "mnist",         "cifar10",
                                            "cifar100",      "folder",        "tiny-imagenet",
                                            "imagenet",      NULL};

const char *const *lbbt_dataset_names(void) { return DATASET_NAMES; }

static int known_name(const char *name) {
  for (int i = 0; DATASET_NAMES[i]; i++)
    if (strcmp(DATASET_NAMES[i], name) == 0) return 1;
  return 0;
}

/* Where to get each dataset, for "file missing" messages. */
static const char *how_to_get(const char *name) {
  if (strcmp(name, "fashion-mnist") == 0)
    return "install the Debian package dataset-fashion-mnist, or set data.root to a folder "
           "with the four IDX .gz files";
  if (strcmp(name, "mnist") == 0)
    return "put the four MNIST IDX files (train/t10k images-idx3 and labels-idx1, .gz or "
           "plain) in $LBBT_DATA/mnist or set data.root";
  if (strcmp(name, "cifar10") == 0)
    return "extract https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz into $LBBT_DATA "
           "or set data.root to the cifar-10-batches-bin folder";
  if (strcmp(name, "cifar100") == 0)
    return "extract https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz into $LBBT_DATA "
           "or set data.root to the cifar-100-binary folder";
  if (strcmp(name, "tiny-imagenet") == 0)
    return "unzip http://cs231n.stanford.edu/tiny-imagenet-200.zip into $LBBT_DATA or set "
           "data.root to the tiny-imagenet-200 folder";
  if (strcmp(name, "imagenet") == 0)
    return "put ILSVRC-2012 in $LBBT_DATA/imagenet as train/<wnid>/*.JPEG and val/<wnid>/*.JPEG "
           "(val sorted into class folders) or set data.root";
  return "set data.root to a folder with train/<class>/ and val/<class>/ images";
}

lbbt_status lbbt_dataset_default_root(const char *name, char *buf, int n) {
  const char *env = getenv("LBBT_DATA");
  const char *data = env && *env ? env : "data";
  const char *sub = NULL;
  if (strcmp(name, "fashion-mnist") == 0) {
    snprintf(buf, (size_t)n, "%s", FASHION_MNIST_DEFAULT_ROOT);
    return LBBT_OK;
  }
  if (strcmp(name, "mnist") == 0) sub = "mnist";
  else if (strcmp(name, "cifar10") == 0) sub = "cifar-10-batches-bin";
  else if (strcmp(name, "cifar100") == 0) sub = "cifar-100-binary";
  else if (strcmp(name, "tiny-imagenet") == 0) sub = "tiny-imagenet-200";
  else if (strcmp(name, "imagenet") == 0) sub = "imagenet";
  if (!sub)
    return lbbt_fail(LBBT_E_INPUT, "dataset '%s' has no default location; set data.root", name);
  if (snprintf(buf, (size_t)n, "%s/%s", data, sub) >= n)
    return lbbt_fail(LBBT_E_INPUT, "default data path for '%s' is too long", name);
  return LBBT_OK;
}

/* "<root>/<split>-<kind>-ubyte.gz", else the plain file, else an error naming the .gz. */
static lbbt_status idx_path(const char *name, const char *root, const char *split,
                            const char *kind, char out[LBBT_PATH_MAX + 64]) {
  static const char *const suffixes[2] = {".gz", ""};
  for (int s = 0; s < 2; s++) {
    snprintf(out, LBBT_PATH_MAX + 64, "%s/%s-%s-ubyte%s", root, split, kind, suffixes[s]);
    if (access(out, R_OK) == 0) return LBBT_OK;
  }
  return lbbt_fail(LBBT_E_INPUT, "%s: missing file '%s/%s-%s-ubyte.gz' (or without .gz); %s", name,
                   root, split, kind, how_to_get(name));
}

lbbt_status lbbt_dataset_open(const lbbt_data_spec *spec, int train, lbbt_dataset **out) {
  *out = NULL;
  const char *name = spec->dataset;
  if (!known_name(name)) {
    char list[256] = "";
    for (int i = 0; DATASET_NAMES[i]; i++) {
      strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
      strncat(list, DATASET_NAMES[i], sizeof list - strlen(list) - 1);
    }
    return lbbt_fail(LBBT_E_INPUT, "data.dataset '%s' is not one of: %s", name, list);
  }
  int64_t limit = train ? spec->limit : spec->test_limit;
  const char *split = train ? "train" : "test";
  if (limit < 0)
    return lbbt_fail(LBBT_E_INPUT, "data.%s %lld is negative (0 = all images)",
                     train ? "limit" : "test_limit", (long long)limit);
  if (spec->image_size < 0)
    return lbbt_fail(LBBT_E_INPUT, "data.image_size %d is negative (0 = native size)",
                     spec->image_size);
  char root[LBBT_PATH_MAX];
  if (spec->root[0]) snprintf(root, sizeof root, "%s", spec->root);
  else LBBT_TRY(lbbt_dataset_default_root(name, root, sizeof root));
  struct stat sb;
  if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return lbbt_fail(LBBT_E_INPUT, "%s: data folder '%s'%s does not exist; %s", name, root,
                     spec->root[0] ? "" : " (the default; data.root is empty)", how_to_get(name));

  lbbt_dataset *ds = NULL;
  lbbt_status st;
  if (strcmp(name, "fashion-mnist") == 0 || strcmp(name, "mnist") == 0) {
    char images[LBBT_PATH_MAX + 64], labels[LBBT_PATH_MAX + 64];
    const char *prefix = train ? "train" : "t10k";
    LBBT_TRY(idx_path(name, root, prefix, "images-idx3", images));
    LBBT_TRY(idx_path(name, root, prefix, "labels-idx1", labels));
    LBBT_TRY(lbbt_dataset_load_idx(images, labels, name, &ds));
    st = lbbt_dataset_set_source(ds, "%s %s (%s)", name, split, images);
  } else if (strcmp(name, "cifar10") == 0 || strcmp(name, "cifar100") == 0) {
    st = strcmp(name, "cifar10") == 0 ? lbbt_dataset_load_cifar10(root, train, &ds)
                                      : lbbt_dataset_load_cifar100(root, train, &ds);
    if (st != LBBT_OK) return st;
  } else {
    /* folders: the subset is chosen before decoding, and decoding resizes */
    st = lbbt_dataset_load_folder(root, train, spec->image_size, limit,
                                  (uint64_t)spec->subset_seed, name, &ds);
    if (st != LBBT_OK) return st;
    *out = ds;
    return LBBT_OK;
  }
  if (st == LBBT_OK)
    st = lbbt_dataset_apply_limit(&ds, limit, (uint64_t)spec->subset_seed, split);
  if (st == LBBT_OK && spec->image_size > 0)
    st = lbbt_dataset_resize(ds, spec->image_size, spec->image_size);
  if (st != LBBT_OK) {
    lbbt_dataset_free(ds);
    return st;
  }
  *out = ds;
  return LBBT_OK;
}
