# The study across the backbones' training (issue 12; docs/study.md, "Across training").
#
# For every run with a checkpoint list (CKPT_LIST_run: `EPOCH<TAB>PATH` lines, the
# format of fixtures/checkpoints/*.list), at every checkpoint: features of a fixed
# subset of the data, probes at the paper's layers trained on its train rows and
# applied to its test rows, the head as the last layer; stacked over the checkpoints
# (prob_train [T,L,N,K]) and measured by sinkhorn with the study's cost and options:
# wdist_train (paper figure 6) and wdist_train_adjacent (figure 15); one test sample
# through training (figure 16); the BatchNorm drift of the checkpoints (bn-drift,
# proposition 4). fmnist also re-runs the across-layer study on mosaics of other
# seeds (figure 9). Everything lands in out/$(DATASET)/ and in training.md, the
# report's section 4 (pipelines/report-training.sh), which report.md includes.
#
# Included after study.mk (the Makefile includes pipelines/*.mk in name order), whose
# variables (STUDY, RUNS, BIN, EMBEDDINGS, ...) it uses.

ifeq ($(DATASET),fmnist)
CKPT_LIST_resnet18 ?= fixtures/checkpoints/fmnist-resnet18.list
CKPT_LIST_vgg16 ?= fixtures/checkpoints/fmnist-vgg16_bn.list
# The fixed subset: the first 2,000 train and 1,000 test mosaics of the study's data
# (`mosaic` draws each split from its own random stream, so with the study's seed these
# are its images 1-2,000 and 24,001-25,000).
TRAIN_SUBSET ?= --train 2000 --val 0 --test 1000
TRAIN_SEED ?= 1
TRAIN_DATA := $(STUDY)/subsets/seed$(TRAIN_SEED).tar
TRAIN_DATA_SPEC := voc:$(TRAIN_DATA)
# The study's probe recipe (PROBE_ARGS: 100 epochs over 20,000 train rows, batch 128,
# lr / 10 every 40 epochs) at the study's number of optimizer steps: the subset has a
# tenth of the rows, so ten times the epochs. With 100 epochs the probes stop far
# short (W 0.15-0.3 above the full study's at the middle layers, docs/study.md).
TRAIN_PROBE_ARGS ?= --standardize --epochs 1000 --lr-step 400
# The paper's layers 1 and 4 of ResNet-18 (its first and fourth residual blocks: taps
# 01, 04), 1 and 6 of VGG-16; the last layer is the network's head (no probe).
TRAIN_TAPS_resnet18 ?= 01 04
TRAIN_TAPS_vgg16 ?= 01 06
# Figure 9: the across-layer study of RESPLIT_RUN's backbone on the subset and on
# mosaics of these seeds with the same sizes (probes on train, distances on test)
RESPLIT_SEEDS ?= 2 3
RESPLIT_RUN ?= $(firstword $(RUNS))
# The shipped checkpoints' learning rate (fixtures/README.md: torch's OneCycleLR, peak
# 3e-3, 15% warm-up, 157 steps per epoch, 16 epochs), for the report's drift per unit
# of it; unknown (empty) for other checkpoint lists
FIXTURE_LISTS := fixtures/checkpoints/fmnist-resnet18.list fixtures/checkpoints/fmnist-vgg16_bn.list
TRAIN_LR ?= $(if $(filter-out $(FIXTURE_LISTS),$(foreach r,$(TRAIN_RUNS),$(CKPT_LIST_$(r)))),,onecycle 0.003 0.15 157 16)
else
TRAIN_DATA := $(DATA)
TRAIN_DATA_SPEC ?= $(DATA_SPEC)
RESPLIT_SEEDS :=
endif
# Figure 16: this row of the test rows (fmnist: the first test mosaic, the sample of figure 4)
TRAIN_SAMPLE ?= 0

# the runs with a checkpoint list that exists
TRAIN_RUNS := $(foreach r,$(RUNS),$(if $(wildcard $(CKPT_LIST_$(r))),$(r)))
# a list's column C (1 epochs, 2 paths), paths below the list's folder
ckpt_column = $(shell cut -f$(2) '$(1)')
ckpt_paths = $(foreach p,$(call ckpt_column,$(1),2),$(if $(filter /%,$(p)),$(p),$(dir $(1))$(p)))
ckpt_epochs = $(subst $(space),$(comma),$(strip $(call ckpt_column,$(1),1)))

TRAIN_FIGURES := $(foreach r,$(TRAIN_RUNS),$(addprefix $(STUDY)/$(r)/,fig6-training.png fig15-training.png \
	fig16-sample-epochs.png)) $(if $(TRAIN_RUNS),$(STUDY)/fig-bn-drift.png) \
	$(if $(RESPLIT_SEEDS),$(STUDY)/fig9-resplit.png)

# $(1) run, $(2) checkpoint index (00, 01, ...), $(3) checkpoint path
define train_checkpoint
$(STUDY)/$(1)/training/probe-$(2).st: $(3) $(TRAIN_DATA) $(BIN)/extract-feats $(BIN)/tensors $(BIN)/train-probe
	@mkdir -p $$(@D)
	$(BIN)/extract-feats -q --model $(3) --dataset $(TRAIN_DATA_SPEC) --splits train $(EXTRACT_ARGS) \
	  | $(BIN)/tensors -q pick $(addprefix feat.,$(TRAIN_TAPS_$(1))) logits labels ignore split index \
	  | $(BIN)/train-probe -q $(TRAIN_PROBE_ARGS) -o $$@

$(STUDY)/$(1)/training/prob-$(2).st: $(STUDY)/$(1)/training/probe-$(2).st $(3) $(TRAIN_DATA) $(BIN)/extract-feats $(BIN)/tensors $(BIN)/train-probe
	$(BIN)/extract-feats -q --model $(3) --dataset $(TRAIN_DATA_SPEC) --splits test $(EXTRACT_ARGS) \
	  | $(BIN)/tensors -q pick $(addprefix feat.,$(TRAIN_TAPS_$(1))) logits labels ignore split index \
	  | $(BIN)/train-probe -q --apply $$< -o $$@
endef

$(foreach r,$(TRAIN_RUNS),$(eval $(r)_CKPTS := $(call ckpt_paths,$(CKPT_LIST_$(r)))))
# 00, 01, ...: one per checkpoint
$(foreach r,$(TRAIN_RUNS),$(eval $(r)_INDEX := $(shell seq -f %02g 0 $(words $(wordlist 2,99999,$($(r)_CKPTS))))))
$(foreach r,$(TRAIN_RUNS),$(foreach k,$(join $(addsuffix :,$($(r)_INDEX)),$($(r)_CKPTS)),\
	$(eval $(call train_checkpoint,$(r),$(firstword $(subst :, ,$(k))),$(lastword $(subst :, ,$(k)))))))

# $(1) run
define train_run
$(STUDY)/$(1)/training/prob-train.st: $$(foreach i,$$($(1)_INDEX),$(STUDY)/$(1)/training/prob-$$(i).st) $(CKPT_LIST_$(1)) $(BIN)/tensors
	$(BIN)/tensors -q stack prob $$(filter %.st,$$^) --as prob_train \
	  --meta 'checkpoint_epochs=[$(call ckpt_epochs,$(CKPT_LIST_$(1)))]' --meta 'model=$(CKPT_LIST_$(1))' -o $$@

$(STUDY)/$(1)/training/dist-train.st: $(STUDY)/$(1)/training/prob-train.st $(BIN)/sinkhorn $(EMBEDDINGS)
	$(BIN)/sinkhorn -q $(EMBED_OPT) $(SINKHORN_ARGS) $$< -o $$@

$(STUDY)/$(1)/training/bn-drift.st: $(CKPT_LIST_$(1)) $$($(1)_CKPTS) $(BIN)/bn-drift
	@mkdir -p $$(@D)
	$(BIN)/bn-drift -q --list $(CKPT_LIST_$(1)) -o $$@

$(STUDY)/$(1)/fig6-training.png: $(STUDY)/$(1)/training/dist-train.st $(BIN)/plot
	$(BIN)/plot -q epochs $$< --title "$(call run_title,$(1)): distance to the target per layer during training (test rows)" -o $$@

$(STUDY)/$(1)/fig15-training.png: $(STUDY)/$(1)/training/dist-train.st $(BIN)/plot
	$(BIN)/plot -q adjacent $$< --title "$(call run_title,$(1)): distance between consecutive checkpoints' predictions (test rows)" -o $$@

$(STUDY)/$(1)/fig16-sample-epochs.png: $(STUDY)/$(1)/training/dist-train.st $(STUDY)/$(1)/training/prob-train.st $(BIN)/plot
	$(BIN)/plot -q sample-epochs $$< --prob $(STUDY)/$(1)/training/prob-train.st --sample $(TRAIN_SAMPLE) -o $$@
endef
$(foreach r,$(TRAIN_RUNS),$(eval $(call train_run,$(r))))

$(STUDY)/fig-bn-drift.png: $(foreach r,$(TRAIN_RUNS),$(STUDY)/$(r)/training/bn-drift.st) $(BIN)/plot
	$(BIN)/plot -q bn-drift $(filter %.st,$^) --names "$(subst $(space),$(comma),$(foreach r,$(TRAIN_RUNS),$(call run_title,$(r))))" -o $@

# ---- the subsets, and figure 9's re-split trials ----
$(STUDY)/subsets/seed%.tar: $(BIN)/mosaic
	@mkdir -p $(@D)
	$(BIN)/mosaic -q --seed $* $(TRAIN_SUBSET) -o $@

RESPLIT_DISTS := $(foreach s,$(TRAIN_SEED) $(RESPLIT_SEEDS),$(STUDY)/resplit/seed$(s).st)
$(STUDY)/resplit/seed%.st: $(STUDY)/subsets/seed%.tar $(MODEL_$(RESPLIT_RUN)) $(BIN)/extract-feats \
	  $(BIN)/train-probe $(BIN)/sinkhorn $(EMBEDDINGS)
	@mkdir -p $(@D)
	$(BIN)/extract-feats -q --model $(MODEL_$(RESPLIT_RUN)) --dataset voc:$< $(EXTRACT_ARGS) \
	  | $(BIN)/train-probe -q $(TRAIN_PROBE_ARGS) | $(BIN)/sinkhorn -q $(EMBED_OPT) $(SINKHORN_ARGS) -o $@

$(STUDY)/fig9-resplit.png: $(RESPLIT_DISTS) $(BIN)/plot
	$(BIN)/plot -q resplit $(filter %.st,$^) --names "$(subst $(space),$(comma),$(foreach s,$(TRAIN_SEED) $(RESPLIT_SEEDS),seed$(s)))" \
	  --title "$(call run_title,$(RESPLIT_RUN)): distance per layer on re-split mosaics ($(TRAIN_SUBSET))" -o $@

# ---- the report's section 4 ----
TRAIN_DISTS := $(foreach r,$(TRAIN_RUNS),$(STUDY)/$(r)/training/dist-train.st $(STUDY)/$(r)/training/bn-drift.st)
$(STUDY)/training.md: $(TRAIN_FIGURES) $(TRAIN_DISTS) $(if $(RESPLIT_SEEDS),$(RESPLIT_DISTS) $(foreach r,$(RUNS),$(STUDY)/$(r)/dist.st)) \
	  $(foreach r,$(RUNS),$(STUDY)/$(r)/probe-epochs.png $(STUDY)/$(r)/probe-adjacent.png) \
	  pipelines/report-training.sh $(BIN)/tensors
	BIN=$(BIN) TRAIN_RUNS="$(TRAIN_RUNS)" RESPLIT="$(if $(RESPLIT_SEEDS),$(RESPLIT_RUN) $(TRAIN_SEED) $(RESPLIT_SEEDS))" \
	  TRAIN_LR="$(TRAIN_LR)" TRAIN_SUBSET="$(TRAIN_SUBSET)" TRAIN_PROBE_ARGS="$(TRAIN_PROBE_ARGS)" \
	  TRAIN_SAMPLE=$(TRAIN_SAMPLE) \
	  pipelines/report-training.sh $(STUDY) $(foreach r,$(RUNS),$(r) "$(call run_title,$(r))") > $@.tmp
	mv $@.tmp $@

$(STUDY)/report.md: $(STUDY)/training.md
