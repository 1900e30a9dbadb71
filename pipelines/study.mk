# The study end to end (contract section 9; docs/study.md).
#
#   make reproduce                                   Fashion-MNIST mosaics, both fixture backbones
#   make reproduce DATASET=voc VOC=VOCtrainval_06-Nov-2007.tar,VOCtest_06-Nov-2007.tar MODEL=m.safetensors
#   make reproduce DATASET=coco COCO_TRAIN=train2017.zip,instances_train2017.json \
#        COCO_TEST=val2017.zip,instances_val2017.json [COCO_VAL=IMAGES,ANNOTATIONS] MODEL=m.safetensors
#
# Every file of out/$(DATASET)/ is one target, written whole by its tool (ls_out),
# so -j2 is safe, .DELETE_ON_ERROR cleans a failed step and a re-run does nothing.
# Steps per run (one run per backbone): extract-feats -> train-probe -> sinkhorn
# -> classify-samples, early-exit -> plot; then the tables and report.md.

DATASET ?= fmnist
STUDY ?= out/$(DATASET)
comma := ,
empty :=
space := $(empty) $(empty)

# The paper's probe recipe (train-probe's defaults: 100 epochs, lr 0.01 / 10 every 40),
# on z-scored features; the whole default study fits 10 minutes on 2 cores (docs/study.md).
MOSAIC_ARGS ?= --seed 1
EXTRACT_ARGS ?=
PROBE_ARGS ?= --standardize
SNAPSHOT_EVERY ?= 10
# probe layers whose training is snapshotted (figures 6 and 15): indices or names
SNAPSHOTS ?= all
SINKHORN_ARGS ?= --measure chebyshev,js
CLASSIFY_ARGS ?= --split test
EXIT_ARGS ?=

ifeq ($(DATASET),fmnist)
RUNS := resnet18 vgg16
MODEL_resnet18 ?= fixtures/fmnist-resnet18.safetensors
MODEL_vgg16 ?= fixtures/fmnist-vgg16_bn.safetensors
TITLE_resnet18 ?= ResNet-18
TITLE_vgg16 ?= VGG-16-BN
# early, middle and last tap
SNAPSHOTS_resnet18 ?= 1,4,8
SNAPSHOTS_vgg16 ?= 1,6,12
DATA := $(STUDY)/mosaic.tar
DATA_SPEC := voc:$(DATA)
SAMPLE ?= 24000
EMBEDDINGS ?= $(wildcard fixtures/fmnist-embeddings.safetensors)
else
ifeq ($(DATASET),voc)
DATA := $(subst $(comma), ,$(VOC))
DATA_SPEC := voc:$(VOC)
EMBEDDINGS ?= $(firstword $(wildcard fixtures/*voc*.safetensors))
else ifeq ($(DATASET),coco)
# one images + annotations pair per split, joined after extraction (tensors cat);
# without COCO_VAL the exit rule is tuned on the train split
COCO_PARTS := $(if $(COCO_TRAIN),train) $(if $(COCO_VAL),val) $(if $(COCO_TEST),test)
COCO_train := $(COCO_TRAIN)
COCO_val := $(COCO_VAL)
COCO_test := $(COCO_TEST)
DATA := $(subst $(comma), ,$(COCO_TRAIN) $(COCO_VAL) $(COCO_TEST))
DATA_SPEC := coco:$(or $(COCO_TEST),$(COCO_VAL),$(COCO_TRAIN))
# the joined parts' `dataset`: every part's spec, ';'-separated
COCO_DATASET := $(subst $(space),;,$(foreach p,$(COCO_PARTS),coco:$(COCO_$(p))))
EXIT_ARGS += $(if $(COCO_VAL),,--tune-split train)
EMBEDDINGS ?= $(firstword $(wildcard fixtures/*coco*.safetensors))
else
$(error DATASET=$(DATASET): expected fmnist, voc or coco)
endif
# one run per model file, named by the file
RUNS := $(basename $(notdir $(MODEL)))
$(foreach m,$(MODEL),$(eval MODEL_$(basename $(notdir $(m))) := $(m)))
endif

# the sample of figure 4 (fmnist: the first test mosaic)
SAMPLE ?= 0
EMBED_OPT := $(if $(EMBEDDINGS),--embeddings $(EMBEDDINGS))
ifeq ($(filter study reproduce,$(MAKECMDGOALS))$(EMBEDDINGS),study)
$(warning no label embeddings for DATASET=$(DATASET): sinkhorn uses the cost 1 - I)
endif
run_title = $(or $(TITLE_$(1)),$(1))
# run titles for the legends, comma-separated (no spaces or commas in a title)
titles := $(subst $(space),$(comma),$(foreach r,$(RUNS),$(call run_title,$(r))))

STUDY_TOOLS := $(BIN)/extract-feats $(BIN)/train-probe $(BIN)/sinkhorn $(BIN)/classify-samples \
	$(BIN)/early-exit $(BIN)/plot
STUDY_FIGURES := $(STUDY)/fig3-layers.png $(STUDY)/tables2-3-overthinking.png \
	$(foreach r,$(RUNS),$(addprefix $(STUDY)/$(r)/,fig4-sample.png fig5-categories.png \
	  fig6-epochs.png fig11-measures.png fig15-adjacent.png))
STUDY_TABLES := $(STUDY)/table2.md $(STUDY)/table3.md $(STUDY)/table4.md

.PHONY: study
reproduce: deps
	$(MAKE) --no-print-directory study
study: $(STUDY)/report.md

$(STUDY)/mosaic.tar: $(BIN)/mosaic
	@mkdir -p $(@D)
	$(BIN)/mosaic -q $(MOSAIC_ARGS) -o $@

# $(1): the run
define study_run
ifeq ($(DATASET),coco)
$(STUDY)/$(1)/feats.st: $(foreach p,$(COCO_PARTS),$(STUDY)/$(1)/feats.$(p).st) $(BIN)/tensors
	$(BIN)/tensors -q cat $$(filter %.st,$$^) --meta 'dataset=$(COCO_DATASET)' -o $$@

$(STUDY)/$(1)/feats.%.st: $(DATA) $(MODEL_$(1)) $(BIN)/extract-feats
	@mkdir -p $$(@D)
	$(BIN)/extract-feats -q --model $(MODEL_$(1)) --dataset coco:$$(COCO_$$*),$$* $(EXTRACT_ARGS) -o $$@
else
$(STUDY)/$(1)/feats.st: $(DATA) $(MODEL_$(1)) $(BIN)/extract-feats
	@mkdir -p $$(@D)
	$(BIN)/extract-feats -q --model $(MODEL_$(1)) --dataset $(DATA_SPEC) $(EXTRACT_ARGS) -o $$@
endif

$(STUDY)/$(1)/prob.st: $(STUDY)/$(1)/feats.st $(BIN)/train-probe
	$(BIN)/train-probe -q $(PROBE_ARGS) --snapshot-every $(SNAPSHOT_EVERY) \
	  --snapshots $(or $(SNAPSHOTS_$(1)),$(SNAPSHOTS)) $$< -o $$@

$(STUDY)/$(1)/dist.st: $(STUDY)/$(1)/prob.st $(BIN)/sinkhorn $(EMBEDDINGS)
	$(BIN)/sinkhorn -q $(EMBED_OPT) $(SINKHORN_ARGS) $$< -o $$@

$(STUDY)/$(1)/classes.st $(STUDY)/$(1)/classes.md &: $(STUDY)/$(1)/dist.st $(STUDY)/$(1)/prob.st $(BIN)/classify-samples
	$(BIN)/classify-samples -q $(CLASSIFY_ARGS) --prob $(STUDY)/$(1)/prob.st \
	  --summary $(STUDY)/$(1)/classes.md $$< -o $(STUDY)/$(1)/classes.st

$(STUDY)/$(1)/exit.st $(STUDY)/$(1)/exit.md $(STUDY)/$(1)/metrics.tsv &: $(STUDY)/$(1)/prob.st $(BIN)/early-exit
	$(BIN)/early-exit -q $(EXIT_ARGS) --report $(STUDY)/$(1)/exit.md \
	  --metrics $(STUDY)/$(1)/metrics.tsv $$< -o $(STUDY)/$(1)/exit.st

$(STUDY)/$(1)/fig4-sample.png: $(STUDY)/$(1)/dist.st $(STUDY)/$(1)/prob.st $(BIN)/plot
	$(BIN)/plot -q sample $$< --prob $(STUDY)/$(1)/prob.st --sample $(SAMPLE) -o $$@

$(STUDY)/$(1)/fig5-categories.png: $(STUDY)/$(1)/classes.st $(STUDY)/$(1)/prob.st $(DATA) $(BIN)/plot
	$(BIN)/plot -q categories $$< --prob $(STUDY)/$(1)/prob.st --dataset $(DATA_SPEC) -o $$@

$(STUDY)/$(1)/fig6-epochs.png: $(STUDY)/$(1)/dist.st $(BIN)/plot
	$(BIN)/plot -q epochs $$< -o $$@

$(STUDY)/$(1)/fig11-measures.png: $(STUDY)/$(1)/dist.st $(BIN)/plot
	$(BIN)/plot -q measures $$< --title "$(call run_title,$(1)): distance measures per layer (test rows)" -o $$@

$(STUDY)/$(1)/fig15-adjacent.png: $(STUDY)/$(1)/prob.st $(BIN)/plot
	$(BIN)/plot -q adjacent $$< -o $$@
endef
$(foreach r,$(RUNS),$(eval $(call study_run,$(r))))

$(STUDY)/fig3-layers.png: $(foreach r,$(RUNS),$(STUDY)/$(r)/dist.st) $(BIN)/plot
	$(BIN)/plot -q layers $(filter %.st,$^) --names "$(titles)" -o $@

$(STUDY)/tables2-3-overthinking.png: $(foreach r,$(RUNS),$(STUDY)/$(r)/exit.st) $(BIN)/plot
	$(BIN)/plot -q overthinking $(filter %.st,$^) --names "$(titles)" -o $@

$(STUDY_TABLES) &: $(foreach r,$(RUNS),$(STUDY)/$(r)/exit.md $(STUDY)/$(r)/metrics.tsv) pipelines/tables.sh
	pipelines/tables.sh $(STUDY) $(foreach r,$(RUNS),$(r) "$(call run_title,$(r))")

$(STUDY)/report.md: $(STUDY_FIGURES) $(STUDY_TABLES) \
	  $(foreach r,$(RUNS),$(STUDY)/$(r)/classes.md) pipelines/report.sh
	pipelines/report.sh $(STUDY) $(DATASET) $(foreach r,$(RUNS),$(r) "$(call run_title,$(r))") > $@.tmp
	mv $@.tmp $@
