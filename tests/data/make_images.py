#!/usr/bin/python3
"""Writes the test images of every kind the decoder must handle into DIR,
with PIL, and NAME.npy: the RGB uint8 array the decode must give.

    make_images.py DIR

Good images: JPEG (baseline, progressive, 4:2:0/4:4:4, grey, CMYK), PNG
(RGB, RGBA, grey, grey+alpha, 1-bit, 16-bit grey and RGB, palette with and
without transparency, interlaced). Bad ones: truncated JPEG and PNG, a JPEG
with garbage scan data, a PNG with a broken CRC, an empty file, a text file.
"""
import io, os, sys, zlib, struct
import numpy as np
from PIL import Image

def photo(h, w, seed):
    """Smooth colour fields with edges and noise: JPEG-like content."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(x / (7 + 3 * c) + y / (11 + c) + c) for c in range(3)], -1)
    img[h // 3:h // 2, w // 4:w // 2] = [250, 20, 40]
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)

def save(d, name, im, **kw):
    path = os.path.join(d, name)
    im.save(path, **kw)
    return path

def expect(d, name, arr):
    np.save(os.path.join(d, name + '.npy'), np.ascontiguousarray(arr, dtype=np.uint8))

def main(d):
    os.makedirs(d, exist_ok=True)
    rgb = photo(45, 67, 1)
    good = {
        'rgb.jpg': (Image.fromarray(rgb), dict(quality=90)),
        'rgb444.jpg': (Image.fromarray(rgb), dict(quality=95, subsampling=0)),
        'progressive.jpg': (Image.fromarray(rgb), dict(quality=85, progressive=True)),
        'grey.jpg': (Image.fromarray(rgb).convert('L'), dict(quality=90)),
        'cmyk.jpg': (Image.fromarray(rgb).convert('CMYK'), dict(quality=90)),
        'rgb.png': (Image.fromarray(rgb), {}),
        'rgba.png': (Image.fromarray(np.dstack([rgb, rgb[..., :1]])), {}),
        'grey.png': (Image.fromarray(rgb).convert('L'), {}),
        'greyalpha.png': (Image.fromarray(rgb).convert('LA'), {}),
        'bilevel.png': (Image.fromarray(rgb).convert('1'), {}),
        'palette.png': (Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE, colors=37), {}),
    }
    for name, spec in good.items():
        im, kw = spec
        path = save(d, name, im, **kw)
        expect(d, name, np.asarray(Image.open(path).convert('RGB')))
    # palette with a transparent entry: alpha dropped, colours kept
    pal = Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE, colors=16)
    pal.info['transparency'] = 3
    path = save(d, 'palette_trns.png', pal, transparency=3)
    expect(d, 'palette_trns.png', np.asarray(Image.open(path).convert('RGBA'))[..., :3])
    # 16-bit: written by hand (PIL cannot write 16-bit RGB); the decode keeps the high byte
    rng = np.random.default_rng(2)
    g16 = rng.integers(0, 65536, (23, 31), dtype=np.uint16)
    c16 = rng.integers(0, 65536, (19, 29, 3), dtype=np.uint16)
    write_png16(os.path.join(d, 'grey16.png'), g16, 0)
    expect(d, 'grey16.png', np.repeat((g16 >> 8)[..., None], 3, -1))
    write_png16(os.path.join(d, 'rgb16.png'), c16, 2)
    expect(d, 'rgb16.png', c16 >> 8)
    write_png16(os.path.join(d, 'interlaced16.png'), c16, 2, interlace=True)
    expect(d, 'interlaced16.png', c16 >> 8)
    # bad files
    jpg = open(os.path.join(d, 'rgb.jpg'), 'rb').read()
    png = open(os.path.join(d, 'rgb.png'), 'rb').read()
    open(os.path.join(d, 'truncated.jpg'), 'wb').write(jpg[:len(jpg) * 2 // 3])
    open(os.path.join(d, 'truncated.png'), 'wb').write(png[:len(png) // 2])
    open(os.path.join(d, 'header_only.jpg'), 'wb').write(jpg[:20])
    sos = jpg.index(b'\xff\xda')
    bad = bytearray(jpg)
    bad[sos + 2:sos + 4] = b'\x00\x02'   # scan header of length 2: corrupt
    open(os.path.join(d, 'corrupt.jpg'), 'wb').write(bytes(bad))
    bad = bytearray(png)
    bad[30] ^= 0xff                      # inside IHDR: CRC mismatch
    open(os.path.join(d, 'badcrc.png'), 'wb').write(bytes(bad))
    # a header claiming 20000x20000 pixels (above PIL's bomb threshold), no data
    ihdr = struct.pack('>IIBBBBB', 20000, 20000, 8, 2, 0, 0, 0)
    open(os.path.join(d, 'huge.png'), 'wb').write(b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', ihdr) + png_chunk(b'IDAT', zlib.compress(b'\x00' * 64)) + png_chunk(b'IEND', b''))
    open(os.path.join(d, 'empty.jpg'), 'wb').close()
    open(os.path.join(d, 'text.jpg'), 'w').write('not an image\n')

def png_chunk(t, data):
    return struct.pack('>I', len(data)) + t + data + struct.pack('>I', zlib.crc32(t + data) & 0xffffffff)

def write_png16(path, a, colour, interlace=False):
    h, w = a.shape[:2]
    chunk = png_chunk
    ch = 1 if colour == 0 else 3
    a = a.reshape(h, w, ch).astype('>u2')
    if interlace:   # Adam7 passes
        raw = b''
        for y0, x0, dy, dx in [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]:
            sub = a[y0::dy, x0::dx]
            if sub.size:
                raw += b''.join(b'\x00' + row.tobytes() for row in sub)
    else:
        raw = b''.join(b'\x00' + row.tobytes() for row in a)
    ihdr = struct.pack('>IIBBBBB', w, h, 16, colour, 0, 0, 1 if interlace else 0)
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))

if __name__ == '__main__':
    main(sys.argv[1])
