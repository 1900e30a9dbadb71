# The study on a Slurm cluster (issue 14): the same files in the same places as
# pipelines/study.mk, the features extracted in shards by a job array.
#
#   make reproduce ENGINE=slurm SHARDS=8 [PARTITION=cpu] [JOB_ARGS=--account=me]
#   make slurm-study ENGINE=slurm ...  submit; WAIT=no returns at once (log out, come back,
#                                      run it again: what is done is not redone)
#   make slurm-feats ENGINE=slurm ...  only the features (shards and their join)
#
# make builds the tools and, for fmnist, the data here, then submits for each run
# (backbone) and each extraction (feats, or feats.PART for coco):
#   1. an array of the shards that are missing or older than their inputs:
#      extract-feats --shard I/N writes RUN/feats.shard-I-of-N.st, block I of N of the
#      data set's samples in whole batches (docs/extract-feats.md); shards that exist
#      are never resubmitted;
#   2. the join (afterok the array): tensors cat of shards 0..N-1 in order -> RUN/feats.st
#      (cat checks, by their metadata `shard`, that they are all there, in order, and
#      the join is the file a single extract-feats writes, history aside), then the
#      shards are removed;
# then (slurm-study)
#   3. per run, afterok its joins: make of the run's files (train-probe, sinkhorn,
#      classify-samples, early-exit, figures: the rules of study.mk, ENGINE=local);
#   4. afterok every run: make study (the cross-run figures, the tables, report.md).
# A job whose dependency failed is cancelled (--kill-on-invalid-dep=yes). With WAIT=yes
# make polls squeue every POLL seconds until the study's jobs are gone, then checks
# that every file was made; reproduce then runs `make study` here, which finds
# nothing to do. Logs: $(STUDY)/slurm/RUN/*.log, one per shard, join and job.
# The jobs run in this folder (--chdir), so it must be shared with the compute nodes;
# they export the submitting environment (sbatch's default) and run the tools of $(BIN).
# The shards run extract-feats with --threads $(CPUS_shard); their joins are a single
# machine's outputs bit for bit at any thread count there (docs/scale.md).
# Jobs are named RUN:STEP (resnet18:feats.shards, resnet18:feats.join, resnet18:run,
# report) and carry the comment layerscope:STUDY (absolute); while any job with that
# comment is queued, a new submission for the same study is refused.

ENGINE ?= local
ifeq ($(filter local slurm,$(ENGINE)),)
$(error ENGINE=$(ENGINE): expected local or slurm)
endif

ifeq ($(ENGINE),slurm)
SHARDS ?= 4
ifneq ($(shell [ "$(SHARDS)" -ge 1 ] 2>/dev/null && echo ok),ok)
$(error SHARDS=$(SHARDS): expected a whole number of shards, 1 or more)
endif
slurm_ids := $(shell seq 0 $$(($(SHARDS) - 1)))
WAIT ?= yes
POLL ?= 30
PARTITION ?=
JOB_ARGS ?=
SBATCH ?= sbatch
SQUEUE ?= squeue
# Per job kind: wall time, CPUs, memory (empty: the partition's default). From
# docs/scale.md ("Per stage, as N grows"): the COCO-2014 study with ResNet-50
# (123,287 images) measured per stage and projected, with wide margins for
# slower cores, shared storage and heavier backbones; set them for the data,
# the backbone, SHARDS and the cluster.
# shard: extract-feats, 0.112 CPU s per image (ResNet-50, 224 px, JPEG decoding
# included): COCO's train part at SHARDS=4 is 20,700 images, about 10 min on 4
# CPUs (VGG-16 costs about 4x); 0.57-0.72 GiB peak RSS at 1-2 threads
TIME_shard ?= 2:00:00
CPUS_shard ?= 4
MEM_shard ?= 4G
# join: tensors cat streams (0.08 GiB peak RSS for 14 GiB of features, 15 s)
TIME_join ?= 0:30:00
CPUS_join ?= 1
MEM_join ?= 1G
# run: train-probe (one thread per layer: beyond about 8 CPUs its widest layers
# bound it), sinkhorn, classify-samples, early-exit, figures: about 6 min on 8
# CPUs for COCO; peak RSS 9.1 GiB (train-probe) and about 7.5 GiB (sinkhorn,
# which holds its input: 1.1x prob.st)
TIME_run ?= 2:00:00
CPUS_run ?= 8
MEM_run ?= 24G
# report: the cross-run figures, tables and report.md (not measured)
TIME_report ?= 1:00:00
CPUS_report ?= 2
MEM_report ?= 8G
SLURM_LOGS ?= $(STUDY)/slurm

# reproduce's own `make study` (MAKELEVEL 1) only confirms what the jobs made
ifeq ($(MAKELEVEL)$(filter study,$(MAKECMDGOALS)),0study)
$(error ENGINE=slurm: run `make reproduce ENGINE=slurm` or `make slurm-study ENGINE=slurm`; `make study` would run everything on this machine)
endif
ifneq ($(filter reproduce,$(MAKECMDGOALS)),)
ifneq ($(WAIT),yes)
$(error WAIT=$(WAIT) with reproduce: reproduce waits for the jobs; `make slurm-study ENGINE=slurm WAIT=no` submits and returns)
endif
endif
endif

.PHONY: slurm-feats slurm-study
ifneq ($(ENGINE),slurm)
slurm-feats slurm-study:
	@echo "make $@: needs ENGINE=slurm (and SHARDS=N): make $@ ENGINE=slurm SHARDS=4" >&2; exit 2
else
reproduce: slurm-study
# reproduce installs the packages first
slurm-feats slurm-study: | $(if $(filter reproduce,$(MAKECMDGOALS)),deps)

shq = '$(subst ','\'',$(1))'
slurm_tag = layerscope:$(abspath $(STUDY))
# the extractions of a run: feats, or for coco one per part (joined by study.mk)
slurm_units = $(if $(filter coco,$(DATASET)),$(addprefix feats.,$(COCO_PARTS)),feats)
slurm_spec = $(if $(filter feats,$(1)),$(DATA_SPEC),coco:$(COCO_$(1:feats.%=%)),$(1:feats.%=%))
# $(1) run, $(2) unit, $(3) shard index
slurm_shard = $(STUDY)/$(1)/$(2).shard-$(3)-of-$(SHARDS).st
# what a shard or the join is made from
slurm_inputs = $(DATA) $(MODEL_$(1)) $(BIN)/extract-feats
# the run's own files (its share of $(STUDY_FIGURES) and the reports)
slurm_run_files = $(filter $(STUDY)/$(1)/%,$(STUDY_FIGURES)) $(addprefix $(STUDY)/$(1)/,classes.st exit.st)
# make of study.mk's rules, in a job or to ask what is left (-q): this command line's
# variables, no jobserver (none is handed down), never a tool rebuilt. Through a
# copy of $(MAKE), so that make -n does not run the submission.
slurm_make_prog := $(MAKE)
slurm_make = MAKEFLAGS=$(call shq,-- $(MAKEOVERRIDES)) $(slurm_make_prog) --no-print-directory \
	$(foreach t,$(STUDY_TOOLS) $(BIN)/tensors,-o $(t)) ENGINE=local
slurm_sbatch = $(SBATCH) --parsable --chdir=$(CURDIR) $(if $(PARTITION),--partition=$(PARTITION)) \
	--time=$(TIME_$(1)) --cpus-per-task=$(CPUS_$(1)) $(if $(MEM_$(1)),--mem=$(MEM_$(1))) \
	--comment=$(slurm_tag) --kill-on-invalid-dep=yes $(JOB_ARGS)
# true when file $(1) is missing or older than an input of run $(2)
slurm_stale = { [ ! -e $(1) ] $(foreach p,$(call slurm_inputs,$(2)),|| [ $(p) -nt $(1) ]); }

# Submits what run $(1)'s extraction $(2) lacks; appends the join's job id to $$rj.
# A shard is resubmitted only when its file is missing or stale; the join whenever
# the joined file is.
define slurm_submit_unit
if $(call slurm_stale,$(STUDY)/$(1)/$(2).st,$(1)); then \
  missing=; \
  for i in $(slurm_ids); do \
    if $(call slurm_stale,$(call slurm_shard,$(1),$(2),$$i),$(1)); then missing=$$missing$${missing:+,}$$i; fi; \
  done; \
  after=; \
  if [ -n "$$missing" ]; then \
    a=$$($(call slurm_sbatch,shard) --job-name=$(1):$(2).shards --array=$$missing \
      --output=$(SLURM_LOGS)/$(1)/$(2).shard-%a-of-$(SHARDS).log \
      --wrap=$(call shq,i=$$SLURM_ARRAY_TASK_ID; exec $(call slurm_shard_cmd,$(1),$(2)))); \
    echo "slurm: $(1) $(2): shards $$missing of 0..$$(($(SHARDS) - 1)): job $${a%%;*}"; \
    after=--dependency=afterok:$${a%%;*}; \
  fi; \
  j=$$($(call slurm_sbatch,join) --job-name=$(1):$(2).join $$after \
    --output=$(SLURM_LOGS)/$(1)/$(2).join.log \
    --wrap=$(call shq,$(BIN)/tensors -q cat $(foreach i,$(slurm_ids),$(call slurm_shard,$(1),$(2),$(i))) \
      -o $(STUDY)/$(1)/$(2).st && rm -f $(foreach i,$(slurm_ids),$(call slurm_shard,$(1),$(2),$(i))))); \
  echo "slurm: $(1) $(2): join: job $${j%%;*}"; \
  rj="$$rj $${j%%;*}"; \
fi;
endef

# shard $$i of run $(1)'s extraction $(2)
slurm_shard_cmd = $(BIN)/extract-feats -q --model $(MODEL_$(1)) --dataset $(call slurm_spec,$(2)) \
	$(EXTRACT_ARGS) --threads $(CPUS_shard) --shard $$i/$(SHARDS) -o $(call slurm_shard,$(1),$(2),$$i)

# $(1) step (the job name's end), $(2) after these job ids ($$rj, $$runs), $(3) log,
# $(4) job kind, $(5) make's goals; appends the id to $$runs
define slurm_submit_make
r=$$($(call slurm_sbatch,$(4)) --job-name=$(1) \
  $${$(2):+--dependency=afterok:$$(echo $$$(2) | tr ' ' :)} --output=$(3) \
  --wrap=$(call shq,unset MAKELEVEL MFLAGS; $(slurm_make) -j1 $(5))); \
echo "slurm: $(1): job $${r%%;*}"; runs="$$runs $${r%%;*}";
endef

# Refuses to submit while jobs of this study are queued.
define slurm_check_queue
command -v $(SBATCH) >/dev/null || { echo "slurm: $(SBATCH) not found: is this a Slurm submit host? (Debian: slurm-client)" >&2; exit 1; }; \
q=$$($(SQUEUE) -h -u "$$(id -un)" -o '%i %k' 2>&1) || { echo "slurm: cannot reach the cluster (is SLURM_CONF right?): $$(echo "$$q" | tail -n 1)" >&2; exit 1; }; \
q=$$(echo "$$q" | awk -v t=$(call shq,$(slurm_tag)) '$$2 == t { print $$1 }' | tr '\n' ' '); \
if [ -n "$$q" ]; then echo "slurm: jobs of $(STUDY) are still queued ($$q): wait for them or scancel them" >&2; exit 1; fi;
endef

# With WAIT=yes: polls until no job of the study is queued, printing the counts as they change.
define slurm_wait
if [ $(WAIT) = yes ] && [ -n "$$joins$$runs" ]; then \
  last=; while :; do \
    now=$$($(SQUEUE) -h -u "$$(id -un)" -o '%k %T' | awk -v t=$(call shq,$(slurm_tag)) \
      '$$1 == t { n[tolower($$2)]++ } \
       END { for (s in n) { printf "%s%d %s", sep, n[s], s; sep = ", " } }'); \
    [ -n "$$now" ] || break; \
    [ "$$now" = "$$last" ] || echo "slurm: $(STUDY): $$now"; last=$$now; \
    sleep $(POLL); \
  done; \
fi;
endef

slurm-feats slurm-study: $$(DATA) $$(STUDY_TOOLS) $$(BIN)/tensors
	@$(slurm_check_queue) \
	mkdir -p $(foreach r,$(RUNS),$(STUDY)/$(r) $(SLURM_LOGS)/$(r)); \
	joins=; runs=; \
	$(foreach r,$(RUNS),rj=; \
	  $(foreach u,$(slurm_units),$(call slurm_submit_unit,$(r),$(u))) \
	  $(if $(filter slurm-study,$@),\
	    if [ -n "$$rj" ] || ! $(slurm_make) -s -q $(call slurm_run_files,$(r)); then \
	      $(call slurm_submit_make,$(r):run,rj,$(SLURM_LOGS)/$(r)/run.log,run,$(call slurm_run_files,$(r))) \
	    fi;) \
	  joins="$$joins$$rj";) \
	$(if $(filter slurm-study,$@),\
	if [ -n "$$runs" ] || ! $(slurm_make) -s -q study; then \
	  $(call slurm_submit_make,report,runs,$(SLURM_LOGS)/report.log,report,study) \
	fi;) \
	[ -n "$$joins$$runs" ] || echo "slurm: $(STUDY): nothing to submit"; \
	[ $(WAIT) = yes ] || exit 0; \
	$(slurm_wait) \
	$(if $(filter slurm-study,$@),\
	  $(slurm_make) -s -q study || { echo "slurm: the jobs ended but $(STUDY) is not complete: see the logs in $(SLURM_LOGS)" >&2; exit 1; },\
	  bad=; $(foreach r,$(RUNS),$(foreach u,$(slurm_units),[ -e $(STUDY)/$(r)/$(u).st ] || bad="$$bad $(r)/$(u).st";)) \
	  [ -z "$$bad" ] || { echo "slurm: the jobs ended without$$bad: see the logs in $(SLURM_LOGS)" >&2; exit 1; })
endif
