/* names.h: the pipeline's fixed names (contract sections 3, 4, 8 and 10) in
 * one place: the splits, the context tensors every tool forwards, the
 * distance measures, the sample categories. Each is an enum with a name
 * table in the same order.
 *
 * Error rule: nothing can fail; never exits. */
#ifndef LS_NAMES_H
#define LS_NAMES_H

/* The `split` tensor's codes and the `splits` metadata. */
typedef enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST, SPLIT_N } split_id;
extern const char *const split_names[SPLIT_N];          /* "train", "val", "test" */

/* The row-wise context tensors each tool forwards (contract section 2). */
enum { CTX_LABELS, CTX_IGNORE, CTX_SPLIT, CTX_INDEX, CTX_N };
extern const char *const context_names[CTX_N];         /* "labels", "ignore", "split", "index" */

/* sinkhorn's outputs: the tensor names, the --measure words that ask for
 * them (MEASURE_WDIST is always written) and what each measures. */
typedef enum { MEASURE_WDIST, MEASURE_CHEB, MEASURE_JSD, MEASURE_KL, MEASURE_TV, MEASURE_N } measure_id;
extern const char *const measure_tensors[MEASURE_N];   /* "wdist", "cheb", "jsd", "kl", "tv" */
extern const char *const measure_options[MEASURE_N];   /* NULL, "chebyshev", "js", "kl", "tv" */
extern const char *const measure_titles[MEASURE_N];    /* "Wasserstein distance to the target", ... */

/* classify-samples' `category` codes. */
typedef enum { CAT_REGULAR, CAT_EASY, CAT_HARD, CAT_CONFUSED, CAT_N } category_id;
extern const char *const category_names[CAT_N];        /* "regular", "easy", "hard", "confused" */

/* The index of s in names[n], or -1. */
int names_find(const char *const *names, int n, const char *s);

#endif
