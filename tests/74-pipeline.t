#!/bin/bash
# The study pipeline (pipelines/study.mk) end to end on small data: fmnist
# (tiny mosaics), voc (the mosaic tar, which is in the VOC layout) and coco
# (the same images as a folder and an instances JSON), with small
# random-initialised backbones (tests/extract-feats/models.py) so that it runs
# in seconds; for the part across training (pipelines/training.mk) three random
# "checkpoints" per backbone in a list file, and one re-split seed. Checks: every
# figure is a PNG, the tables and report.md exist and link every figure, the
# stacked checkpoints and their distances have the right shapes, a re-run does
# nothing, a failed step leaves no file.
set -u
bin=${LS_BIN:-bin}
t=0
ok() { t=$((t + 1)); if [ "$1" = 0 ]; then echo "ok $t - $2"; else echo "not ok $t - $2"; fi; }
for tool in mosaic extract-feats train-probe sinkhorn classify-samples early-exit plot tensors bn-drift; do
	if [ ! -x "$bin/$tool" ]; then echo "1..0 # SKIP $bin/$tool is not built yet"; exit 0; fi
done
command -v gnuplot >/dev/null || { echo "1..0 # SKIP gnuplot is not installed"; exit 0; }
d=${KEEP74:-$(mktemp -d)}
trap '[ -n "${KEEP74:-}" ] || rm -rf "$d"' EXIT
root=$(pwd)

/usr/bin/python3 - "$d" <<'PY' || { echo "1..0 # SKIP cannot build the test backbones"; exit 0; }
import json, os, sys
import numpy as np, torch
sys.path.insert(0, "tests/extract-feats"); sys.path.insert(0, "tests/st")
import models, stwrite
labels = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
for arch, head in (("resnet18", "torchvision"), ("vgg16_bn", "gap")):
    torch.manual_seed(0)
    m, _ = models.build(arch, 4, classes=10, head=head)
    models.randomise(m, torch.Generator().manual_seed(0))
    meta = {"arch": arch, "labels": json.dumps(labels), "resize": "56", "crop": "56",
            "mean": "[0.5,0.5,0.5]", "std": "[0.25,0.25,0.25]"}
    if head != "torchvision":
        meta["head"] = head
    stwrite.write(os.path.join(sys.argv[1], arch + ".safetensors"), models.state_tensors(m, "F32"), meta)
    # three "checkpoints" of one run: the same architecture, other random weights
    os.makedirs(os.path.join(sys.argv[1], "ckpt"), exist_ok=True)
    with open(os.path.join(sys.argv[1], "ckpt", arch + ".list"), "w") as lst:
        for t, epoch in enumerate(("0.5", "1", "2")):
            torch.manual_seed(10 + t)
            c, _ = models.build(arch, 4, classes=10, head=head)
            models.randomise(c, torch.Generator().manual_seed(10 + t))
            stwrite.write(os.path.join(sys.argv[1], "ckpt", "%s-%d.safetensors" % (arch, t)),
                          models.state_tensors(c, "F16"), dict(meta, epoch=epoch))
            lst.write("%s\t%s-%d.safetensors\n" % (epoch, arch, t))
emb = np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32)
stwrite.write(os.path.join(sys.argv[1], "emb.safetensors"), {"embeddings": emb}, {"labels": json.dumps(labels)})
PY

# the tools are built already (by make test, plain or sanitized): never remake them here
small=(BIN="$bin" $(for tool in mosaic extract-feats train-probe sinkhorn classify-samples early-exit plot tensors; do printf -- '-o %s ' "$bin/$tool"; done)
       MOSAIC_ARGS="--seed 3 --train 240 --val 80 --test 100" PROBE_ARGS="--epochs 4 --lr-step 2 --standardize"
       SNAPSHOT_EVERY=2 SNAPSHOTS=all EMBEDDINGS="$d/emb.safetensors" SAMPLE=330)
fm=(STUDY="$d/fmnist" MODEL_resnet18="$d/resnet18.safetensors" MODEL_vgg16="$d/vgg16_bn.safetensors"
    -o "$bin/tensors" -o "$bin/bn-drift" CKPT_LIST_resnet18="$d/ckpt/resnet18.list" CKPT_LIST_vgg16="$d/ckpt/vgg16_bn.list"
    TRAIN_SUBSET="--train 60 --val 0 --test 40" TRAIN_PROBE_ARGS="--epochs 4 --lr-step 2 --standardize"
    RESPLIT_SEEDS=4 TRAIN_SAMPLE=3)
make -s -j2 study "${small[@]}" "${fm[@]}" > "$d/log" 2>&1
ok $? "make study, fmnist: $(tail -n 3 "$d/log" | tr '\n' ' ')"
pngs=0 bad=0
for f in fig3-layers.png fig3-layers-test.png fig3-layers-eps100.png frontier.png tables2-3-overthinking.png \
	{resnet18,vgg16}/{fig4-sample,fig5-categories,probe-epochs,fig11-measures,fig11-measures-test,probe-adjacent}.png \
	{resnet18,vgg16}/fig{6-training,15-training,16-sample-epochs}.png fig-bn-drift.png fig9-resplit.png; do
	pngs=$((pngs + 1))
	head -c 8 "$d/fmnist/$f" 2>/dev/null | od -An -c | grep -q 'P   N   G' || { bad=$((bad + 1)); echo "# not a PNG: $f"; }
	grep -q "($f)" "$d/fmnist/report.md" 2>/dev/null || { bad=$((bad + 1)); echo "# not in report.md: $f"; }
done
ok $bad "$pngs figures, each a PNG linked from report.md"
shapes=$("$bin/tensors" info "$d/fmnist/vgg16/training/prob-train.st" | awk '$1 == "prob_train" { print $3 }')
shapes+=" $("$bin/tensors" info "$d/fmnist/vgg16/training/dist-train.st" | awk '$1 ~ /^wdist_train/ { printf "%s ", $3 }')"
shapes+="$("$bin/tensors" info "$d/fmnist/resnet18/training/bn-drift.st" | awk '$1 ~ /^bn_w2/ { printf "%s ", $3 }')"
test "$shapes" = "[3,3,40,10] [3,3,40] [2,3,40] [2,20] [2,20] "
ok $? "across training: prob_train [T,L,N,K] of 3 checkpoints, 3 layers, 40 test rows; wdist_train, wdist_train_adjacent; bn_w2 of 20 layers ($shapes)"
grep -q '^## 4. Across training' "$d/fmnist/report.md" && grep -q '^### 4.4 BatchNorm drift' "$d/fmnist/report.md" \
	&& grep -q 'epochs 0.5, 1, 2' "$d/fmnist/report.md" && ! grep -q -i 'nan' "$d/fmnist/training.md"
ok $? "report.md: section 4 across training with the checkpoints' epochs, no NaN"
grep -q '^| ResNet-18 | head alone |' "$d/fmnist/table4.md" && grep -q '^| VGG-16-BN | best cascade' "$d/fmnist/table4.md" \
	&& grep -q '^| ResNet-18 | oracle' "$d/fmnist/table4.md" && grep -q 'Table 2: over-thinking, ResNet-18' "$d/fmnist/table2.md" \
	&& grep -q "the paper's tables" "$d/fmnist/table2.md" && grep -q 'Table 3: over-thinking, VGG-16-BN' "$d/fmnist/table3.md" \
	&& grep -q '^### Budgets: VGG-16-BN' "$d/fmnist/budgets.md"
ok $? "tables 2, 3 (both conventions), 4 (head, cascade, one layer, oracle) and the budgets"
# every claim of the paper with a verdict per backbone; no awk redirection left files about
claims=$(grep -c -E '^- (ResNet-18|VGG-16-BN): .*\*\*(agrees|does not agree|not shown)\*\*' "$d/fmnist/report.md")
test "$claims" = 12 && ! ls | grep -q agree
ok $? "report.md: six claims, a verdict for each backbone ($claims lines)"
grep -q '^## 8. The ground cost and eps' "$d/fmnist/report.md" && grep -q '| 0 | maxpool | ' "$d/fmnist/report.md"
ok $? "report.md: the layer-quality table and section 8, the literal eps"
head -1 "$d/fmnist/resnet18/frontier.tsv" | grep -qx $'q\tgamma\tlayer\tcost\taccuracy_tune\taccuracy_eval'
ok $? "frontier TSV with the contract's header"
head -1 "$d/fmnist/resnet18/metrics.tsv" | grep -qx $'layer\tsplit\taccuracy\tCP\tCR\tCF1\tmacroF1\tOP\tOR\tOF1\tmAP'
ok $? "metrics TSV with the contract's header"
make -q study "${small[@]}" "${fm[@]}"
ok $? "a re-run has nothing to do (make -q)"
touch "$d/fmnist/vgg16/exit.md"
make -n study "${small[@]}" "${fm[@]}" | grep -v '^mv' > "$d/plan"
grep -q tables.sh "$d/plan" && ! grep -q -e train-probe -e extract-feats "$d/plan"
ok $? "after touching one report only the tables and report.md are redone"

# voc: the same tar given as a VOC archive, one model
make -s study "${small[@]}" DATASET=voc STUDY="$d/voc" VOC="$d/fmnist/mosaic.tar" MODEL="$d/resnet18.safetensors" > "$d/log" 2>&1
ok $? "make study DATASET=voc: $(tail -n 2 "$d/log" | tr '\n' ' ')"
test -s "$d/voc/report.md" && test -s "$d/voc/resnet18/fig5-categories.png" && grep -q 'one backbone' "$d/voc/table3.md"
ok $? "voc: report, categories figure with the images, table 3 says one backbone"

# coco: the train and test images as folders, an instances JSON each
tar -xf "$d/fmnist/mosaic.tar" -C "$d" && /usr/bin/python3 - "$d" <<'PY'
import glob, json, os, sys, re
root = sys.argv[1]
voc = glob.glob(os.path.join(root, "**", "VOC2007"), recursive=True)[0]
labels = open(os.path.join(voc, "labels.txt")).read().split()
for split in ("train", "test"):
    os.makedirs(os.path.join(root, "coco", split), exist_ok=True)
    images, anns = [], []
    for n, iid in enumerate(open(os.path.join(voc, "ImageSets", "Main", split + ".txt")).read().split(), 1):
        os.rename(os.path.join(voc, "JPEGImages", iid + ".jpg"), os.path.join(root, "coco", split, iid + ".jpg"))
        images.append({"id": n, "file_name": iid + ".jpg", "width": 56, "height": 56})
        for name in re.findall(r"<name>(.*?)</name>", open(os.path.join(voc, "Annotations", iid + ".xml")).read()):
            anns.append({"id": len(anns) + 1, "image_id": n, "category_id": labels.index(name) + 1,
                         "bbox": [0, 0, 28, 28], "area": 784, "iscrowd": 0})
    json.dump({"images": images, "annotations": anns,
               "categories": [{"id": k + 1, "name": l} for k, l in enumerate(labels)]},
              open(os.path.join(root, "coco", "instances_%s.json" % split), "w"))
PY
make -s study "${small[@]}" -o "$bin/tensors" DATASET=coco STUDY="$d/coco-out" COCO_TRAIN="$d/coco/train,$d/coco/instances_train.json" \
	COCO_TEST="$d/coco/test,$d/coco/instances_test.json" MODEL="$d/resnet18.safetensors" SAMPLE=250 > "$d/log" 2>&1
rc=$?
ok $rc "make study DATASET=coco (train and test parts joined, tuned on train): $(tail -n 2 "$d/log" | tr '\n' ' ')"
test -s "$d/coco-out/report.md" && test -s "$d/coco-out/resnet18/fig5-categories.png"
ok $? "coco: report and the categories figure with the images"

# coco on the real sample (tests/data/real), plus a photo listed without
# annotations, as 1,021 train2017 images are: the study finishes, counts it,
# and no table says nan
real=$root/tests/data/real
mkdir -p "$d/real-coco/val2017"
cp "$real"/coco/val2017/*.jpg "$d/real-coco/val2017/"
cp "$real/VOCdevkit/VOC2012/JPEGImages/2007_000039.jpg" "$d/real-coco/val2017/000000000001.jpg"
/usr/bin/python3 - "$real/coco/annotations/instances_val2017.json" "$d/real-coco/instances_val2017.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["images"].append({"id": 1, "file_name": "000000000001.jpg", "width": 500, "height": 375})
json.dump(d, open(sys.argv[2], "w"))
PY
coco_real="$d/real-coco/val2017,$d/real-coco/instances_val2017.json"
make -s study "${small[@]}" -o "$bin/tensors" DATASET=coco STUDY="$d/real-coco-out" COCO_TRAIN="$coco_real" \
	COCO_TEST="$coco_real" MODEL="$d/resnet18.safetensors" SAMPLE=0 EMBEDDINGS= > "$d/log" 2>&1
ok $? "make study DATASET=coco on the real sample with an image without annotations: $(tail -n 1 "$d/log")"
grep -q 'Samples: train 2 (1 without labels), test 2 (1 without labels)' "$d/real-coco-out/report.md" \
	&& ! grep -qi 'nan' "$d/real-coco-out/report.md" "$d/real-coco-out"/table*.md
ok $? "real coco: the report counts the image without annotations, no nan in the report or tables"

# voc on the real VOCdevkit copy (tests/data/real), its split files made
# disjoint: VOC2012 with train and val but no test (the study scores on val,
# saying so), then the 07+12 protocol with VOC2007's truncated JPEG skipped
cp -r "$real/VOCdevkit" "$d/real-voc"
main07=$d/real-voc/VOC2007/ImageSets/Main main12=$d/real-voc/VOC2012/ImageSets/Main
printf '000001\n' > "$main07/trainval.txt"; printf '000005\n' > "$main07/test.txt"
rm "$main12/trainval.txt" "$main12/test.txt"
printf '2007_000032\n2007_000033\n' > "$main12/train.txt"; printf '2007_000039\n' > "$main12/val.txt"
make -s study "${small[@]}" -o "$bin/tensors" DATASET=voc VOC_YEAR=2012 VOC="$d/real-voc" STUDY="$d/real-voc12" \
	MODEL="$d/resnet18.safetensors" SAMPLE=0 EMBEDDINGS= > "$d/log" 2>&1
ok $? "make study DATASET=voc VOC_YEAR=2012 on the real sample (no test split): $(tail -n 1 "$d/log")"
grep -q 'no test split' "$d/real-voc12/report.md" && grep -q 'val split (%)' "$d/real-voc12/table4.md" \
	&& grep -q 'scores on val' "$d/log" && ! grep -qi nan "$d/real-voc12/report.md"
ok $? "real voc2012: scored on val, said in the log, the report and the tables; no nan"
make -s study "${small[@]}" -o "$bin/tensors" DATASET=voc VOC_YEAR=0712 VOC="$d/real-voc" STUDY="$d/real-voc0712" \
	MODEL="$d/resnet18.safetensors" SAMPLE=0 EMBEDDINGS= EXTRACT_ARGS=--skip-bad > "$d/log" 2>&1
ok $? "make study DATASET=voc VOC_YEAR=0712 on the real sample, the truncated JPEG skipped: $(tail -n 1 "$d/log")"
grep -q 'Samples: train 3, test 1\.' "$d/real-voc0712/report.md" && grep -q '1 of 5 images skipped' "$d/log"
ok $? "real voc0712: 2007+2012 trainval as train (the truncated JPEG skipped), 2007 test as test"

# a failing step leaves no half-written target
make -s study "${small[@]}" STUDY="$d/broken" MODEL_resnet18="$d/emb.safetensors" MODEL_vgg16="$d/emb.safetensors" > "$d/log" 2>&1
rc=$?
test $rc -ne 0 && test ! -e "$d/broken/resnet18/feats.st" && ! ls "$d/broken/resnet18/" 2>/dev/null | grep -q tmp
ok $? "a model that is not a model: make fails ($(grep -m1 extract-feats: "$d/log")), no file left"
make -s study DATASET=imagenet > "$d/log" 2>&1
test $? -ne 0 && grep -q 'expected fmnist, voc or coco' "$d/log"
ok $? "an unknown DATASET is refused"
echo "1..$t"
