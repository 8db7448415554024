/* CIFAR-10 and CIFAR-100, "binary version": fixed-size records of label byte(s) followed by
 * 3072 pixel bytes, 1024 per channel (R, G, B), each a row-major 32x32 plane, i.e. exactly
 * our [C, H, W] layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)

const char *const lbbt_cifar10_classes[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};
const char *const lbbt_cifar100_classes[100] = {
    "apple",      "aquarium_fish", "baby",         "bear",       "beaver",     "bed",
    "bee",        "beetle",        "bicycle",      "bottle",     "bowl",       "boy",
    "bridge",     "bus",           "butterfly",    "camel",      "can",        "castle",
    "caterpillar", "cattle",       "chair",        "chimpanzee", "clock",      "cloud",
    "cockroach",  "couch",         "crab",         "crocodile",  "cup",        "dinosaur",
    "dolphin",    "elephant",      "flatfish",     "forest",     "fox",        "girl",
    "hamster",    "house",         "kangaroo",     "keyboard",   "lamp",       "lawn_mower",
    "leopard",    "lion",          "lizard",       "lobster",    "man",        "maple_tree",
    "motorcycle", "mountain",      "mouse",        "mushroom",   "oak_tree",   "orange",
    "orchid",     "otter",         "palm_tree",    "pear",       "pickup_truck", "pine_tree",
    "plain",      "plate",         "poppy",        "porcupine",  "possum",     "rabbit",
    "raccoon",    "ray",           "road",         "rocket",     "rose",       "sea",
    "seal",       "shark",         "shrew",        "skunk",      "skyscraper", "snail",
    "snake",      "spider",        "squirrel",     "streetcar",  "sunflower",  "sweet_pepper",
    "table",      "tank",          "telephone",    "television", "tiger",      "tractor",
    "train",      "trout",         "tulip",        "turtle",     "wardrobe",   "whale",
    "willow_tree", "wolf",         "woman",        "worm"};

/* Load the record files in `paths` (label_bytes 1: CIFAR-10; 2: CIFAR-100, fine label is the
 * second byte) into one dataset. */
static lbbt_status load_cifar_files(const char *const *paths, int n_paths, int label_bytes,
                                    int num_classes, lbbt_dataset **out) {
  *out = NULL;
  const int64_t record = label_bytes + CIFAR_PIXELS;
  lbbt_status st = LBBT_OK;
  uint8_t *data[8] = {0};
  int64_t size[8] = {0}, total = 0;
  lbbt_dataset *ds = NULL;
  for (int f = 0; f < n_paths; f++) {
    LBBT_TRY_GOTO(st, lbbt_read_file(paths[f], &data[f], &size[f]), done);
    if (size[f] == 0 || size[f] % record != 0) {
      st = lbbt_fail(LBBT_E_INPUT,
                     "CIFAR file '%s' is truncated or not a CIFAR-%d binary file: %lld bytes is "
                     "not a positive multiple of the %lld-byte record (%d label byte%s + 3072 "
                     "pixels)",
                     paths[f], num_classes, (long long)size[f], (long long)record, label_bytes,
                     label_bytes > 1 ? "s" : "");
      goto done;
    }
    total += size[f] / record;
  }
  LBBT_TRY_GOTO(st, lbbt_dataset_create(total, 3, CIFAR_SIDE, CIFAR_SIDE, num_classes, &ds), done);
  int64_t i = 0;
  for (int f = 0; f < n_paths; f++)
    for (int64_t r = 0; r < size[f] / record; r++, i++) {
      const uint8_t *rec = data[f] + r * record;
      int label = rec[label_bytes - 1];
      if (label >= num_classes) {
        st = lbbt_fail(LBBT_E_INPUT,
                       "CIFAR file '%s': record %lld has label %d outside [0, %d); is it a "
                       "CIFAR-%d file?",
                       paths[f], (long long)r, label, num_classes, num_classes == 10 ? 100 : 10);
        goto done;
      }
      ds->labels[i] = label;
      memcpy(ds->pixels + i * CIFAR_PIXELS, rec + label_bytes, CIFAR_PIXELS);
    }
  *out = ds;
  ds = NULL;
done:
  for (int f = 0; f < n_paths; f++) free(data[f]);
  lbbt_dataset_free(ds);
  return st;
}

static lbbt_status load_cifar(const char *root, int train, int cifar100, lbbt_dataset **out) {
  char paths[6][LBBT_PATH_MAX + 32];
  const char *ptrs[6];
  int n = 0;
  if (cifar100) {
    snprintf(paths[n++], sizeof paths[0], "%s/%s", root, train ? "train.bin" : "test.bin");
  } else if (train) {
    for (int b = 1; b <= 5; b++) snprintf(paths[n++], sizeof paths[0], "%s/data_batch_%d.bin", root, b);
  } else {
    snprintf(paths[n++], sizeof paths[0], "%s/test_batch.bin", root);
  }
  for (int k = 0; k < n; k++) ptrs[k] = paths[k];
  const char *name = cifar100 ? "cifar100" : "cifar10";
  LBBT_TRY(load_cifar_files(ptrs, n, cifar100 ? 2 : 1, cifar100 ? 100 : 10, out));
  lbbt_dataset *ds = *out;
  lbbt_dataset_norm_lookup(name, ds->mean, ds->std);
  lbbt_status st = lbbt_dataset_set_class_names(
      ds, cifar100 ? lbbt_cifar100_classes : lbbt_cifar10_classes, ds->num_classes);
  if (st == LBBT_OK)
    st = lbbt_dataset_set_source(ds, "%s %s (%s/%s)", name, train ? "train" : "test", root,
                                 cifar100 ? (train ? "train.bin" : "test.bin")
                                          : (train ? "data_batch_{1..5}.bin" : "test_batch.bin"));
  if (st != LBBT_OK) {
    lbbt_dataset_free(ds);
    *out = NULL;
  }
  return st;
}

lbbt_status lbbt_dataset_load_cifar10(const char *root, int train, lbbt_dataset **out) {
  return load_cifar(root, train, 0, out);
}

lbbt_status lbbt_dataset_load_cifar100(const char *root, int train, lbbt_dataset **out) {
  return load_cifar(root, train, 1, out);
}
