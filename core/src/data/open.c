/* lbbt_dataset_open: dataset name + root -> loader, subset, resize, provenance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/spec.h" /* lbbt_data_spec */
#include "lbbt/rng.h"
#include "data/data_internal.h"

#define FASHION_MNIST_DEFAULT_ROOT "/usr/share/datasets/fashion-mnist"

static const char *const DATASET_NAMES[] = {"fashion-mnist", "mnist",         "cifar10",
                                            "cifar100",      "folder",        "tiny-imagenet",
                                            "imagenet",      "fashion-mnist-detection",
                                            "fashion-mnist-segmentation",     "coco",
                                            "ade20k",        "pascal-context", NULL};

/* Composite kinds: the target they build from Fashion-MNIST, or CLASS for other names. */
static lbbt_target_kind composite_kind(const char *name) {
  if (strcmp(name, "fashion-mnist-detection") == 0) return LBBT_TARGET_BOXES;
  if (strcmp(name, "fashion-mnist-segmentation") == 0) return LBBT_TARGET_MASK;
  return LBBT_TARGET_CLASS;
}

const char *const *lbbt_dataset_names(void) { return DATASET_NAMES; }

lbbt_target_kind lbbt_dataset_target_of(const char *name) {
  if (strcmp(name, "fashion-mnist-detection") == 0 || strcmp(name, "coco") == 0) return LBBT_TARGET_BOXES;
  if (strcmp(name, "fashion-mnist-segmentation") == 0 || strcmp(name, "ade20k") == 0 ||
      strcmp(name, "pascal-context") == 0)
    return LBBT_TARGET_MASK;
  return LBBT_TARGET_CLASS;
}

static int known_name(const char *name) {
  for (int i = 0; DATASET_NAMES[i]; i++)
    if (strcmp(DATASET_NAMES[i], name) == 0) return 1;
  return 0;
}

/* Where to get each dataset, for "file missing" messages. */
static const char *how_to_get(const char *name) {
  if (strcmp(name, "fashion-mnist") == 0 || composite_kind(name) != LBBT_TARGET_CLASS)
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
  if (strcmp(name, "coco") == 0)
    return "put COCO 2017 in $LBBT_DATA/coco as annotations/instances_{train,val}2017.json and "
           "{train,val}2017/ images, or set data.root";
  if (strcmp(name, "ade20k") == 0)
    return "unzip ADEChallengeData2016.zip into $LBBT_DATA or set data.root to the ADEChallengeData2016 folder";
  if (strcmp(name, "pascal-context") == 0)
    return "put VOC2010 with mmseg's SegmentationClassContext masks and ImageSets/SegmentationContext lists in "
           "$LBBT_DATA/VOCdevkit/VOC2010 or set data.root";
  return "set data.root to a folder with train/<class>/ and val/<class>/ images";
}

lbbt_status lbbt_dataset_default_root(const char *name, char *buf, int n) {
  const char *env = getenv("LBBT_DATA");
  const char *data = env && *env ? env : "data";
  const char *sub = NULL;
  if (strcmp(name, "fashion-mnist") == 0 || composite_kind(name) != LBBT_TARGET_CLASS) {
    snprintf(buf, (size_t)n, "%s", FASHION_MNIST_DEFAULT_ROOT);
    return LBBT_OK;
  }
  if (strcmp(name, "mnist") == 0) sub = "mnist";
  else if (strcmp(name, "cifar10") == 0) sub = "cifar-10-batches-bin";
  else if (strcmp(name, "cifar100") == 0) sub = "cifar-100-binary";
  else if (strcmp(name, "tiny-imagenet") == 0) sub = "tiny-imagenet-200";
  else if (strcmp(name, "imagenet") == 0) sub = "imagenet";
  else if (strcmp(name, "coco") == 0) sub = "coco";
  else if (strcmp(name, "ade20k") == 0) sub = "ADEChallengeData2016";
  else if (strcmp(name, "pascal-context") == 0) sub = "VOCdevkit/VOC2010";
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

lbbt_status lbbt_dataset_check_options(const lbbt_data_spec *spec, const char *file) {
  if (!file) file = "(experiment file)";
  lbbt_target_kind kind = composite_kind(spec->dataset);
  if (kind != LBBT_TARGET_CLASS) {
    lbbt_composite_config c;
    return lbbt_composite_config_from_options(spec->options, spec->n_options, kind, spec->dataset, file, &c);
  }
  if (spec->n_options > 0)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: data.options: dataset '%s' takes no options (got '%s')", file,
                     spec->options[0].line, spec->options[0].col, spec->dataset, spec->options[0].key);
  return LBBT_OK;
}

/* A composite split: canvases from Fashion-MNIST's split of the same name, seeded by
 * subset_seed and the split; `limit` canvases (0 = one per source image). */
static lbbt_status open_composite(const lbbt_data_spec *spec, const char *root, int train, int64_t limit,
                                  lbbt_dataset **out) {
  lbbt_target_kind kind = composite_kind(spec->dataset);
  lbbt_composite_config cfg;
  LBBT_TRY(lbbt_composite_config_from_options(spec->options, spec->n_options, kind, spec->dataset,
                                              "(experiment file)", &cfg));
  char images[LBBT_PATH_MAX + 64], labels[LBBT_PATH_MAX + 64];
  const char *prefix = train ? "train" : "t10k";
  LBBT_TRY(idx_path(spec->dataset, root, prefix, "images-idx3", images));
  LBBT_TRY(idx_path(spec->dataset, root, prefix, "labels-idx1", labels));
  lbbt_dataset *items = NULL;
  LBBT_TRY(lbbt_dataset_load_idx(images, labels, "fashion-mnist", &items));
  const char *split = train ? "train" : "test";
  uint64_t seed = (uint64_t)spec->subset_seed ^ lbbt_hash_str(split);
  lbbt_status st = lbbt_dataset_composite(items, &cfg, kind, limit > 0 ? limit : items->n, seed, out);
  lbbt_dataset_free(items);
  if (st == LBBT_OK) st = lbbt_dataset_append_source(*out, ", %s split", split);
  if (st != LBBT_OK) {
    lbbt_dataset_free(*out);
    *out = NULL;
  }
  return st;
}

lbbt_status lbbt_dataset_open(const lbbt_data_spec *spec, int train, lbbt_dataset **out) {
  *out = NULL;
  const char *name = spec->dataset;
  if (!known_name(name)) {
    char list[512] = "";
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

  LBBT_TRY(lbbt_dataset_check_options(spec, NULL));

  lbbt_dataset *ds = NULL;
  lbbt_status st;
  if (composite_kind(name) != LBBT_TARGET_CLASS) {
    st = open_composite(spec, root, train, limit, &ds);
  } else if (strcmp(name, "coco") == 0 || strcmp(name, "ade20k") == 0 || strcmp(name, "pascal-context") == 0) {
    /* the readers resize while decoding and choose their subset first */
    const char *tag = train ? "train" : "test";
    uint64_t seed = (uint64_t)spec->subset_seed;
    if (strcmp(name, "coco") == 0) {
      char ann[LBBT_PATH_MAX + 64], img[LBBT_PATH_MAX + 16];
      snprintf(ann, sizeof ann, "%s/annotations/instances_%s2017.json", root, train ? "train" : "val");
      snprintf(img, sizeof img, "%s/%s2017", root, train ? "train" : "val");
      st = lbbt_dataset_load_coco(ann, img, spec->image_size, limit, seed, tag, &ds);
    } else if (strcmp(name, "ade20k") == 0) {
      st = lbbt_dataset_load_ade20k(root, train, spec->image_size, limit, seed, &ds);
    } else {
      st = lbbt_dataset_load_pascal_context(root, train, spec->image_size, limit, seed, &ds);
    }
    if (st != LBBT_OK) return st;
    *out = ds;
    return LBBT_OK;
  } else if (strcmp(name, "fashion-mnist") == 0 || strcmp(name, "mnist") == 0) {
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
  if (st == LBBT_OK && composite_kind(name) == LBBT_TARGET_CLASS) /* composites: limit = canvases */
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
