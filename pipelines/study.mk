# The study end to end (contract section 9; docs/study.md).
#
#   make reproduce                                   Fashion-MNIST mosaics, both fixture backbones
#   make reproduce DATASET=voc VOC=VOCtrainval_06-Nov-2007.tar,VOCtest_06-Nov-2007.tar MODEL=m.safetensors
#        [VOC_YEAR=2007|2012|0712: one year of a VOCdevkit holding both, or the 07+12 protocol]
#   make reproduce DATASET=coco COCO_TRAIN=train2017.zip,instances_train2017.json \
#        COCO_TEST=val2017.zip,instances_val2017.json [COCO_VAL=IMAGES,ANNOTATIONS] MODEL=m.safetensors
#
# Every file of out/$(DATASET)/ is one target, written whole by its tool (ls_out),
# so -j2 is safe, .DELETE_ON_ERROR cleans a failed step and a re-run does nothing.
# Steps per run (one run per backbone): extract-feats -> train-probe -> sinkhorn
# (and once more under the paper's literal eps) -> classify-samples, early-exit
# -> plot; then the tables and report.md.

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
# probe layers whose training is snapshotted (the probe-convergence view of report
# section 4; figures 6 and 15 follow the backbone's training: pipelines/training.mk)
SNAPSHOTS ?= all
SINKHORN_ARGS ?= --measure chebyshev,js
# The paper's "alpha = 0.01" read as Cuturi's lambda: eps = 1/alpha = 100 on the raw
# cost (docs/sinkhorn.md); one extra run per backbone, wdist only, for report section 8
LITERAL_SINKHORN_ARGS ?= --no-normalize --eps 100
# the eval split (test, or val when the data have no test rows: VOC2012) comes
# first, from $(STUDY)/RUN/eval-split; these follow and may override it
CLASSIFY_ARGS ?=
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
DATA_SPEC := voc$(VOC_YEAR):$(VOC)
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
EMBEDDINGS ?= $(firstword $(wildcard fixtures/*coco*.safetensors))
else
$(error DATASET=$(DATASET): expected fmnist, voc or coco)
endif
# a sample without any label (COCO: images without annotations) has no target
# distribution: NaN distances, counted in the report, instead of an error
SINKHORN_ARGS += --skip-empty
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
STUDY_FIGURES := $(STUDY)/fig3-layers.png $(STUDY)/fig3-layers-test.png $(STUDY)/fig3-layers-eps100.png \
	$(STUDY)/tables2-3-overthinking.png $(STUDY)/frontier.png \
	$(foreach r,$(RUNS),$(addprefix $(STUDY)/$(r)/,fig4-sample.png fig5-categories.png \
	  probe-epochs.png fig11-measures.png fig11-measures-test.png probe-adjacent.png))
STUDY_TABLES := $(STUDY)/table2.md $(STUDY)/table3.md $(STUDY)/table4.md $(STUDY)/budgets.md

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

$(STUDY)/$(1)/eval-split $(STUDY)/$(1)/tune-split &: $(STUDY)/$(1)/feats.st $(BIN)/tensors pipelines/eval-split.sh
	pipelines/eval-split.sh $(BIN)/tensors $$< $(STUDY)/$(1)/eval-split $(STUDY)/$(1)/tune-split

$(STUDY)/$(1)/prob.st: $(STUDY)/$(1)/feats.st $(BIN)/train-probe
	$(BIN)/train-probe -q $(PROBE_ARGS) --snapshot-every $(SNAPSHOT_EVERY) \
	  --snapshots $(or $(SNAPSHOTS_$(1)),$(SNAPSHOTS)) $$< -o $$@

$(STUDY)/$(1)/dist.st: $(STUDY)/$(1)/prob.st $(BIN)/sinkhorn $(EMBEDDINGS)
	$(BIN)/sinkhorn -q $(EMBED_OPT) $(SINKHORN_ARGS) $$< -o $$@

$(STUDY)/$(1)/dist-eps100.st: $(STUDY)/$(1)/prob.st $(BIN)/sinkhorn $(BIN)/tensors $(EMBEDDINGS)
	$(BIN)/tensors -q pick prob labels split -i $$< | $(BIN)/sinkhorn -q $(EMBED_OPT) $(filter --skip-empty,$(SINKHORN_ARGS)) $(LITERAL_SINKHORN_ARGS) -o $$@

$(STUDY)/$(1)/classes.st $(STUDY)/$(1)/classes.md &: $(STUDY)/$(1)/dist.st $(STUDY)/$(1)/prob.st \
	  $(STUDY)/$(1)/eval-split $(BIN)/classify-samples
	$(BIN)/classify-samples -q --split $$$$(cat $(STUDY)/$(1)/eval-split) $(CLASSIFY_ARGS) --prob $(STUDY)/$(1)/prob.st \
	  --summary $(STUDY)/$(1)/classes.md $$< -o $(STUDY)/$(1)/classes.st

$(STUDY)/$(1)/exit.st $(STUDY)/$(1)/exit.md $(STUDY)/$(1)/metrics.tsv $(STUDY)/$(1)/frontier.tsv &: $(STUDY)/$(1)/prob.st \
	  $(STUDY)/$(1)/eval-split $(STUDY)/$(1)/tune-split $(BIN)/early-exit
	$(BIN)/early-exit -q --eval-split $$$$(cat $(STUDY)/$(1)/eval-split) --tune-split $$$$(cat $(STUDY)/$(1)/tune-split) \
	  $(EXIT_ARGS) --report $(STUDY)/$(1)/exit.md --metrics $(STUDY)/$(1)/metrics.tsv \
	  --frontier $(STUDY)/$(1)/frontier.tsv $$< -o $(STUDY)/$(1)/exit.st

$(STUDY)/$(1)/fig4-sample.png: $(STUDY)/$(1)/dist.st $(STUDY)/$(1)/prob.st $(BIN)/plot
	$(BIN)/plot -q sample $$< --prob $(STUDY)/$(1)/prob.st --sample $(SAMPLE) -o $$@

$(STUDY)/$(1)/fig5-categories.png: $(STUDY)/$(1)/classes.st $(STUDY)/$(1)/prob.st $(DATA) $(BIN)/plot
	$(BIN)/plot -q categories $$< --prob $(STUDY)/$(1)/prob.st --dataset $(DATA_SPEC) -o $$@

$(STUDY)/$(1)/probe-epochs.png: $(STUDY)/$(1)/dist.st $(BIN)/plot
	$(BIN)/plot -q probe-epochs $$< -o $$@

# figures 11-12 from the train rows as the paper draws them, the eval rows beside
$(STUDY)/$(1)/fig11-measures.png: $(STUDY)/$(1)/dist.st $(BIN)/plot
	$(BIN)/plot -q measures $$< --split train --title "$(call run_title,$(1)): distance measures per layer (train rows)" -o $$@

$(STUDY)/$(1)/fig11-measures-test.png: $(STUDY)/$(1)/dist.st $(STUDY)/$(1)/eval-split $(BIN)/plot
	e=$$$$(cat $(STUDY)/$(1)/eval-split); $(BIN)/plot -q measures $$< --split $$$$e \
	  --title "$(call run_title,$(1)): distance measures per layer ($$$$e rows)" -o $$@

$(STUDY)/$(1)/probe-adjacent.png: $(STUDY)/$(1)/prob.st $(BIN)/plot
	$(BIN)/plot -q probe-adjacent $$< -o $$@
endef
$(foreach r,$(RUNS),$(eval $(call study_run,$(r))))

# figure 3 from the train rows (the paper's section 6.1.1), the eval rows beside
# (its figure 10), and under the literal reading of eps (section 8 of the report)
$(STUDY)/fig3-layers.png: $(foreach r,$(RUNS),$(STUDY)/$(r)/dist.st) $(BIN)/plot
	$(BIN)/plot -q layers $(filter %.st,$^) --split train --names "$(titles)" -o $@

$(STUDY)/fig3-layers-test.png: $(foreach r,$(RUNS),$(STUDY)/$(r)/dist.st $(STUDY)/$(r)/eval-split) $(BIN)/plot
	$(BIN)/plot -q layers $(filter %.st,$^) --split $$(cat $(STUDY)/$(firstword $(RUNS))/eval-split) \
	  --names "$(titles)" -o $@

$(STUDY)/fig3-layers-eps100.png: $(foreach r,$(RUNS),$(STUDY)/$(r)/dist-eps100.st) $(BIN)/plot
	$(BIN)/plot -q layers $(filter %.st,$^) --split train --names "$(titles)" \
	  --title "Figure 3 under eps = 100 on the raw cost (the paper's alpha read as Cuturi's lambda), train rows" -o $@

$(STUDY)/frontier.png: $(foreach r,$(RUNS),$(STUDY)/$(r)/exit.st) $(BIN)/plot
	$(BIN)/plot -q frontier $(filter %.st,$^) --names "$(titles)" -o $@

$(STUDY)/tables2-3-overthinking.png: $(foreach r,$(RUNS),$(STUDY)/$(r)/exit.st) $(BIN)/plot
	$(BIN)/plot -q overthinking $(filter %.st,$^) --names "$(titles)" -o $@

$(STUDY_TABLES) &: $(foreach r,$(RUNS),$(STUDY)/$(r)/exit.md $(STUDY)/$(r)/metrics.tsv $(STUDY)/$(r)/eval-split) \
	  pipelines/tables.sh
	pipelines/tables.sh $(STUDY) $(foreach r,$(RUNS),$(r) "$(call run_title,$(r))")

$(STUDY)/report.md: $(STUDY_FIGURES) $(STUDY_TABLES) $(BIN)/tensors pipelines/report.sh \
	  $(foreach r,$(RUNS),$(addprefix $(STUDY)/$(r)/,classes.md classes.st exit.st dist.st dist-eps100.st))
	TENSORS=$(BIN)/tensors pipelines/report.sh $(STUDY) $(DATASET) \
	  $(foreach r,$(RUNS),$(r) "$(call run_title,$(r))") > $@.tmp
	mv $@.tmp $@
