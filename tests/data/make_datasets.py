#!/usr/bin/python3
"""Builds small data sets in the layouts users have, and what a reader must
make of them, into DIR (used by tests/40-dataset.t):

  VOCtrainval_06-Nov-2007.tar, VOCtest_06-Nov-2007.tar   the original names
      and folders (VOCdevkit/VOC2007/{Annotations,ImageSets/Main,JPEGImages,
      SegmentationClass}), difficult objects, person parts, per-class files
  voc-folder/VOCdevkit/...       the same, unpacked (both tars' contents)
  custom.tar                     10 non-VOC labels ordered by labels.txt
  coco/val2014.zip + coco/annotations/instances_val2014.json
      real COCO category ids and names, crowd objects, polygons, an image
      without annotations; coco/val2014/ the same images as a folder
  list.tsv, list-header.tsv      image lists (relative paths, splits)

    make_datasets.py DIR

Expected results are computed by Python's own parsers (ElementTree, json,
csv) from the files written, and saved as DIR/expect/NAME.tsv in the
format of tests/unit/dataset_dump (without the byte counts' reads).
"""
import io, json, os, sys, tarfile, zipfile
import xml.etree.ElementTree as ET
import numpy as np
from PIL import Image

VOC = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
       "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
       "train", "tvmonitor"]

def jpeg(seed, h=24, w=32):
    rng = np.random.default_rng(seed)
    b = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(b, 'JPEG', quality=80)
    return b.getvalue()

def fnv(data):
    h = 1469598103934665603
    for c in data:
        h = ((h ^ c) * 1099511628211) & 0xffffffffffffffff
    return '%016x' % h

def voc_xml(iid, objs, style):
    """objs: (name, difficult); style varies the XML the scanner must read."""
    o = []
    for k, (name, diff) in enumerate(objs):
        part = ('<part><name>hand</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></part>'
                if name == 'person' else '')
        if style == 1:
            o.append('\t<object>\n\t\t<name>\n\t\t\t%s\n\t\t</name>\n\t\t<pose>Left</pose>\n\t\t<truncated>1</truncated>\n'
                     '\t\t<difficult>%d</difficult>\n%s\t</object>\n' % (name, diff, part))
        elif style == 2:
            o.append('<object id="%d" kind=\'a > b\'><!-- <name>decoy</name> --><difficult> %d </difficult>'
                     '<name><![CDATA[%s]]></name>%s<occluded/></object>' % (k, diff, name, part))
        else:
            o.append('<object><name>%s</name><difficult>%d</difficult>%s</object>' % (name, diff, part))
    head = '<?xml version="1.0" encoding="utf-8"?>\n' if style else ''
    return (head + '<annotation verified="no">\n\t<folder>VOC2007</folder>\n\t<filename>%s.jpg</filename>\n'
            '\t<source><database>The VOC2007 Database</database><name>not a label</name></source>\n'
            '\t<size><width>32</width><height>24</height><depth>3</depth></size>\n\t<segmented>0</segmented>\n%s'
            '</annotation>\n' % (iid, ''.join(o))).encode()

def voc_parse(xml_bytes):
    """Python's own reading: ElementTree, direct object children only."""
    root = ET.fromstring(xml_bytes)
    return [(o.find('name').text.strip(), int(o.find('difficult').text.strip()) if o.find('difficult') is not None else 0)
            for o in root.findall('object')]

def label_rows(objs, labels):
    lab = ['0'] * len(labels)
    ign = ['1'] * len(labels)
    for name, diff in objs:
        k = labels.index(name)
        lab[k] = '1'
        if not diff:
            ign[k] = '0'
    ign = [i if l == '1' else '0' for i, l in zip(ign, lab)]
    return ''.join(lab), ''.join(ign)

def write_expect(d, name, labels, rows):
    """rows: (index, id, split, objs, image bytes or None)"""
    os.makedirs(os.path.join(d, 'expect'), exist_ok=True)
    with open(os.path.join(d, 'expect', name + '.tsv'), 'w') as f:
        unann = sum(1 for r in rows if not r[3])
        f.write('%d\t%d\t%d\n' % (len(rows), len(labels), unann))
        f.write('\t'.join(labels) + '\n')
        for index, iid, split, objs, data in rows:
            lab, ign = label_rows(objs, labels)
            tail = '%d\t%s' % (len(data), fnv(data)) if data is not None else 'ERR'
            f.write('%d\t%s\t%d\t%s\t%s\t%s\n' % (index, iid, split, lab, ign, tail))

def add(tar, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 1194336000
    tar.addfile(ti, io.BytesIO(data))

def make_voc(d):
    rng = np.random.default_rng(7)
    ids = {'train': ['000005', '000007', '000012', '000017'], 'val': ['000009', '000016', '000019'],
           'test': ['000001', '000002', '000003', '000004', '000006']}
    files = {}   # path below VOC2007 -> bytes, per tar
    trainval, test = {}, {}
    objs_of = {}
    for split, lst in ids.items():
        for n, iid in enumerate(lst):
            k = int(rng.integers(1, 4))
            objs = [(VOC[int(rng.integers(0, 20))], int(rng.random() < 0.3)) for _ in range(k)]
            if iid == '000007':
                objs = [('person', 0), ('dog', 1), ('dog', 0)]        # dog: one easy one
            if iid == '000009':
                objs = [('cat', 1), ('cat', 1), ('person', 0)]        # cat: difficult only
            objs_of[iid] = objs
            dst = trainval if split != 'test' else test
            dst['Annotations/%s.xml' % iid] = voc_xml(iid, objs, n % 3)
            dst['JPEGImages/%s.jpg' % iid] = jpeg(int(iid))
            dst['SegmentationClass/%s.png' % iid] = b'\x89PNG not needed'
    for split in ('train', 'val'):
        trainval['ImageSets/Main/%s.txt' % split] = ''.join(i + '\n' for i in ids[split]).encode()
        trainval['ImageSets/Main/aeroplane_%s.txt' % split] = ''.join(i + ' -1\n' for i in ids[split]).encode()
    trainval['ImageSets/Main/trainval.txt'] = ''.join(i + '\n' for i in sorted(ids['train'] + ids['val'])).encode()
    test['ImageSets/Main/test.txt'] = ''.join(i + '\n' for i in ids['test']).encode()
    for tarname, content in (('VOCtrainval_06-Nov-2007.tar', trainval), ('VOCtest_06-Nov-2007.tar', test)):
        with tarfile.open(os.path.join(d, tarname), 'w') as tar:
            for sub in ('Annotations', 'ImageSets', 'JPEGImages', 'SegmentationClass'):   # the original order
                for path in sorted(p for p in content if p.startswith(sub)):
                    add(tar, 'VOCdevkit/VOC2007/' + path, content[path])
        for path, data in content.items():
            full = os.path.join(d, 'voc-folder', 'VOCdevkit', 'VOC2007', path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            open(full, 'wb').write(data)
    allfiles = dict(trainval, **test)
    split_no = {'train': 0, 'val': 1, 'test': 2}
    listing = [(iid, split) for split in ('train', 'val', 'test') for iid in ids[split]]
    def rows(splits):
        return [(n, iid, split_no[s], voc_parse(allfiles['Annotations/%s.xml' % iid]), allfiles['JPEGImages/%s.jpg' % iid])
                for n, (iid, s) in enumerate(listing) if s in splits]
    write_expect(d, 'voc-all', VOC, rows(('train', 'val', 'test')))
    write_expect(d, 'voc-test', VOC, rows(('test',)))
    write_expect(d, 'voc-trainval', VOC, rows(('train', 'val')))
    # trainval tar alone: no test split
    write_expect(d, 'voc-trainval-tar', VOC, rows(('train', 'val')))

def make_custom(d):
    """A Fashion-MNIST-like VOC tar: 10 labels in labels.txt order, no VOC names."""
    labels = ['tshirt_top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle_boot']
    rng = np.random.default_rng(3)
    rows = []
    with tarfile.open(os.path.join(d, 'custom.tar'), 'w') as tar:
        add(tar, 'VOCdevkit/VOC2007/labels.txt', ('\n'.join(labels) + '\n').encode())
        lst = {'train': [], 'val': [], 'test': []}
        n = 0
        for split in ('train', 'val', 'test'):
            for k in range(3):
                iid = '%06d' % n
                objs = [(labels[int(i)], 0) for i in rng.choice(10, int(rng.integers(1, 4)), replace=False)]
                data = jpeg(100 + n)
                add(tar, 'VOCdevkit/VOC2007/JPEGImages/%s.jpg' % iid, data)
                xml = voc_xml(iid, objs, 0)
                add(tar, 'VOCdevkit/VOC2007/Annotations/%s.xml' % iid, xml)
                rows.append((n, iid, ('train', 'val', 'test').index(split), voc_parse(xml), data))
                lst[split].append(iid)
                n += 1
        for split, ids in lst.items():
            add(tar, 'VOCdevkit/VOC2007/ImageSets/Main/%s.txt' % split, ''.join(i + '\n' for i in ids).encode())
    write_expect(d, 'custom', labels, rows)

COCO_CATS = [(1, 'person'), (2, 'bicycle'), (3, 'car'), (5, 'airplane'), (17, 'cat'), (18, 'dog'),
             (44, 'bottle'), (62, 'chair'), (67, 'dining table'), (90, 'toothbrush')]

def make_coco(d):
    rng = np.random.default_rng(11)
    root = os.path.join(d, 'coco')
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    os.makedirs(os.path.join(root, 'val2014'), exist_ok=True)
    images, anns, datas = [], [], {}
    for n, iid in enumerate([42, 73, 74, 133, 136, 139, 164]):
        fn = 'COCO_val2014_%012d.jpg' % iid
        images.append({'license': 3, 'file_name': fn, 'coco_url': 'http://x/' + fn, 'height': 24, 'width': 32,
                       'date_captured': '2013-11-14 11:18:45', 'id': iid})
        datas[fn] = jpeg(1000 + iid)
        if iid == 136:
            continue                                              # no annotation
        for k in range(int(rng.integers(1, 5))):
            cid = COCO_CATS[int(rng.integers(0, len(COCO_CATS)))][0]
            anns.append({'segmentation': [[1.5, 2.0, 10.25, 3.0, 7.0, 9.0]] if k % 2 else
                         {'counts': [10, 20, 30], 'size': [24, 32]},
                         'area': 12.5, 'iscrowd': k % 2 ^ 1, 'image_id': iid,
                         'bbox': [1, 2, 3, 4], 'category_id': cid, 'id': 1000 * iid + k})
    cats = [{'supercategory': 'x', 'id': c, 'name': nm} for c, nm in COCO_CATS]
    js = {'info': {'description': 'tiny'}, 'images': images, 'licenses': [], 'annotations': anns,
          'categories': cats}
    open(os.path.join(root, 'annotations', 'instances_val2014.json'), 'w').write(json.dumps(js))
    with zipfile.ZipFile(os.path.join(root, 'val2014.zip'), 'w') as z:
        z.writestr('val2014/', b'')
        for fn, data in datas.items():
            z.writestr('val2014/' + fn, data, compress_type=zipfile.ZIP_DEFLATED if fn.endswith('3.jpg') else zipfile.ZIP_STORED)
            open(os.path.join(root, 'val2014', fn), 'wb').write(data)
    # Python's reading of the JSON: labels alphabetical by name
    js = json.load(open(os.path.join(root, 'annotations', 'instances_val2014.json')))
    names = sorted(c['name'] for c in js['categories'])
    cname = {c['id']: c['name'] for c in js['categories']}
    objs = {im['id']: [] for im in js['images']}
    for a in js['annotations']:
        objs[a['image_id']].append((cname[a['category_id']], 0))
    rows = [(n, im['file_name'], 1, objs[im['id']], datas[im['file_name']]) for n, im in enumerate(js['images'])]
    write_expect(d, 'coco', names, rows)
    write_expect(d, 'coco-as-test', names, [(n, i, 2, o, b) for n, i, _, o, b in rows])

def make_list(d):
    import csv
    os.makedirs(os.path.join(d, 'imgs', 'sub'), exist_ok=True)
    entries = [('imgs/a.jpg', 'dog,cat', 'train'), ('imgs/sub/b.jpg', 'cat', 'val'), ('imgs/c.jpg', '', 'test'),
               ('imgs/d.jpg', ' bird , dog ', ''), ('imgs/e.jpg', 'zebra', '2')]
    for k, (p, _, _) in enumerate(entries):
        open(os.path.join(d, p), 'wb').write(jpeg(500 + k))
    with open(os.path.join(d, 'list.tsv'), 'w') as f:
        f.write('# a comment line\n\n')
        for p, l, s in entries:
            f.write('%s\t%s%s\n' % (p, l, '\t' + s if s else ''))
    with open(os.path.join(d, 'list-header.tsv'), 'w') as f:
        f.write('#labels\tzebra,dog,cat,bird,emu\r\n')
        for p, l, s in entries:
            f.write('%s\t%s\t%s\r\n' % (p, l, s))
    # Python's reading
    def read(path):
        rows, header = [], None
        for rec in csv.reader(open(path, newline=''), delimiter='\t'):
            if not rec or not rec[0].strip():
                continue
            if rec[0].startswith('#'):
                if rec[0] == '#labels':
                    header = rec[1].split(',')
                continue
            labs = [x.strip() for x in (rec[1] if len(rec) > 1 else '').split(',') if x.strip()]
            split = rec[2].strip() if len(rec) > 2 and rec[2].strip() else 'train'
            split = {'train': 0, 'val': 1, 'test': 2}.get(split, None) if not split.isdigit() else int(split)
            rows.append((len(rows), rec[0], split, [(x, 0) for x in labs],
                         open(os.path.join(d, rec[0]), 'rb').read()))
        return header or sorted({x for r in rows for x, _ in r[3]}), rows
    write_expect(d, 'list', *read(os.path.join(d, 'list.tsv')))
    write_expect(d, 'list-header', *read(os.path.join(d, 'list-header.tsv')))
    labels, rows = read(os.path.join(d, 'list.tsv'))
    write_expect(d, 'list-val-test', labels, [r for r in rows if r[2] in (1, 2)])

if __name__ == '__main__':
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    make_voc(d)
    make_custom(d)
    make_coco(d)
    make_list(d)
