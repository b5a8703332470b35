// On-device mode: the shipped cascade (ONNX) runs in this browser with onnxruntime-web
// (WebAssembly); the CT is read by NiiVue from the local file and never uploaded.
// Preprocessing follows each network's JSON description (livseg export): axial slices in
// the canonical orientation (patient's right on the image's left, anterior at the top), HU
// clipped to the window and scaled to [0, 1], resized with bilinear interpolation at pixel
// centres (as livseg.preprocess.resize_in_plane), padded by edge replication to the size
// multiple. Liver stage on every slice at 256x256, its probabilities averaged across slices
// over LIVER_SMOOTHING_MM, its largest 6-connected component kept; tumour stage on the
// liver's box plus 10 mm at the pixel size its JSON gives, averaged with its left-right flip
// when it was trained with flips; a 2.5D tumour stage gets its neighbouring slices as the
// server gives them. The server's lesion rules: tumour where its probability exceeds
// TUMOUR_THRESHOLD; each 26-connected lesion kept whole when MIN_SHARE_NEAR_LIVER of it lies
// within LIVER_MARGIN_MM of the liver, dropped otherwise, and dropped under MIN_LESION_MM3
// or with a mean probability under MIN_LESION_PROBABILITY; each kept lesion then grown over
// the connected voxels above GROW_THRESHOLD (hysteresis). Simpler than the server's
// cascade: no cheap pass, no orientation check, no hole filling.
"use strict";
(function () {
  let loaded = null;
  // livseg.infer.cascade.CascadeSettings (tests/serve/test_browser.py keeps them equal)
  const TUMOUR_THRESHOLD = 0.6, MIN_LESION_MM3 = 100, MIN_LESION_PROBABILITY = 0.8;
  const LIVER_SMOOTHING_MM = 8, LIVER_MARGIN_MM = 3, MIN_SHARE_NEAR_LIVER = 0.5;
  const GROW_THRESHOLD = 0;  // grow_threshold (0: None, no growth)

  function models() {
    if (!loaded) {
      ort.env.wasm.wasmPaths = "/static/vendor/";
      // threads need cross-origin isolation, which the server sets up (COOP/COEP headers)
      ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
      const one = async (stage) => ({
        description: await (await fetch(`/models/${stage}.json`)).json(),
        session: await ort.InferenceSession.create(`/models/${stage}.onnx`,
                                                   { executionProviders: ["wasm"] }),
      });
      loaded = (async () => ({ liver: await one("liver"), tumour: await one("tumour") }))();
    }
    return loaded;
  }

  // foreground probability of two-class logits (n, 2, h, w), image k
  function foreground(logits, k, h, w, out) {
    const base = k * 2 * h * w;
    for (let i = 0; i < h * w; i++) {
      out[i] = 1 / (1 + Math.exp(logits[base + i] - logits[base + h * w + i]));
    }
    return out;
  }

  // pad (h, w) to (H, W) by repeating the last row and column
  function padEdge(src, h, w, H, W, out, offset) {
    for (let y = 0; y < H; y++) {
      const row = Math.min(y, h - 1) * w;
      for (let x = 0; x < W; x++) out[offset + y * W + x] = src[row + Math.min(x, w - 1)];
    }
  }

  // connected components of a (nz, ny, nx) mask: 6-connected, or 26 with full
  function components(mask, nx, ny, nz, full) {
    const label = new Int32Array(mask.length), stack = new Int32Array(mask.length);
    const sizes = [0];
    const steps = [];
    for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const away = Math.abs(dx) + Math.abs(dy) + Math.abs(dz);
      if (away && (full || away === 1)) steps.push([dx, dy, dz]);
    }
    for (let i = 0; i < mask.length; i++) {
      if (!mask[i] || label[i]) continue;
      const next = sizes.length;
      let top = 0, size = 0;
      stack[top++] = i; label[i] = next;
      while (top) {
        const v = stack[--top]; size++;
        const x = v % nx, y = ((v - x) / nx) % ny, z = Math.floor(v / (nx * ny));
        for (const [dx, dy, dz] of steps) {
          const X = x + dx, Y = y + dy, Z = z + dz;
          if (X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz) continue;
          const u = v + dx + dy * nx + dz * nx * ny;
          if (mask[u] && !label[u]) { label[u] = next; stack[top++] = u; }
        }
      }
      sizes.push(size);
    }
    return { label, sizes };
  }

  // the largest 6-connected component of a mask, in place; returns its size
  function keepLargest(mask, nx, ny, nz) {
    const { label, sizes } = components(mask, nx, ny, nz, false);
    let best = 0;
    for (let l = 1; l < sizes.length; l++) if (sizes[l] > sizes[best]) best = l;
    for (let i = 0; i < mask.length; i++) mask[i] = best && label[i] === best ? 1 : 0;
    return best ? sizes[best] : 0;
  }

  // whether voxel i lies within LIVER_MARGIN_MM (Euclidean, in mm) of a voxel of the liver
  function nearLiver(liver, i, nx, ny, nz, offsets) {
    if (liver[i]) return true;
    const x = i % nx, y = ((i - x) / nx) % ny, z = Math.floor(i / (nx * ny));
    for (const [dx, dy, dz] of offsets) {
      const X = x + dx, Y = y + dy, Z = z + dz;
      if (X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz) continue;
      if (liver[i + dx + dy * nx + dz * nx * ny]) return true;
    }
    return false;
  }

  // the server's lesion rules (livseg.infer.cascade.Cascade.lesions) on the tumour
  // probability (uint8, 255 = 1): a 26-connected lesion is kept whole when at least
  // MIN_SHARE_NEAR_LIVER of it lies within LIVER_MARGIN_MM of the liver, it holds
  // MIN_LESION_MM3 and its mean probability reaches MIN_LESION_PROBABILITY. The tumour
  // mask, in place, and the lesions' count, smallest volume and voxels outside the liver
  function lesionRules(probability, tumour, liver, nx, ny, nz, [sx, sy, sz]) {
    const voxelMm3 = sx * sy * sz, offsets = [];
    const [rx, ry, rz] = [sx, sy, sz].map((s) => Math.floor(LIVER_MARGIN_MM / s + 1e-9));
    for (let dz = -rz; dz <= rz; dz++) for (let dy = -ry; dy <= ry; dy++) for (let dx = -rx; dx <= rx; dx++) {
      const mm2 = (dx * sx) ** 2 + (dy * sy) ** 2 + (dz * sz) ** 2;
      if (mm2 > 0 && mm2 <= LIVER_MARGIN_MM ** 2 * (1 + 1e-9)) offsets.push([dx, dy, dz, mm2]);
    }
    offsets.sort((a, b) => a[3] - b[3]);  // the nearest first: most answers come early
    for (let i = 0; i < tumour.length; i++) {
      tumour[i] = probability[i] > 255 * TUMOUR_THRESHOLD ? 1 : 0;
    }
    const { label, sizes } = components(tumour, nx, ny, nz, true);
    const sums = new Float64Array(sizes.length), near = new Float64Array(sizes.length);
    for (let i = 0; i < tumour.length; i++) {
      if (!label[i]) continue;
      sums[label[i]] += probability[i];
      if (nearLiver(liver, i, nx, ny, nz, offsets)) near[label[i]] += 1;
    }
    const keep = sizes.map((size, l) => l > 0 && near[l] >= MIN_SHARE_NEAR_LIVER * size &&
                                        size * voxelMm3 >= MIN_LESION_MM3 &&
                                        sums[l] / size / 255 >= MIN_LESION_PROBABILITY);
    for (let i = 0; i < tumour.length; i++) tumour[i] = keep[label[i]] ? 1 : 0;
    let kept = sizes.filter((size, l) => keep[l]);
    if (GROW_THRESHOLD > 0 && kept.length) kept = grow(probability, tumour, nx, ny, nz);
    let voxels = 0, smallestMm3 = null, outsideLiver = 0;
    for (let i = 0; i < tumour.length; i++) {
      voxels += tumour[i];
      if (tumour[i] && !liver[i]) outsideLiver++;
    }
    for (const size of kept) {
      smallestMm3 = smallestMm3 === null ? size * voxelMm3 : Math.min(smallestMm3, size * voxelMm3);
    }
    return { voxels, lesions: kept.length, smallestMm3, outsideLiver };
  }

  // hysteresis (postprocess.grow_lesions): each kept lesion extended over the voxels
  // 26-connected to it whose probability exceeds GROW_THRESHOLD; returns the lesions' sizes
  function grow(probability, tumour, nx, ny, nz) {
    const region = new Uint8Array(tumour.length);
    for (let i = 0; i < tumour.length; i++) {
      region[i] = tumour[i] || probability[i] > 255 * GROW_THRESHOLD ? 1 : 0;
    }
    const { label, sizes } = components(region, nx, ny, nz, true);
    const seeded = new Uint8Array(sizes.length);
    for (let i = 0; i < tumour.length; i++) if (tumour[i]) seeded[label[i]] = 1;
    for (let i = 0; i < tumour.length; i++) tumour[i] = seeded[label[i]];
    return sizes.filter((size, l) => l > 0 && seeded[l]);
  }

  function axisWeights(nIn, nOut) {
    const low = new Int32Array(nOut), high = new Int32Array(nOut), w = new Float32Array(nOut);
    for (let i = 0; i < nOut; i++) {
      const source = Math.max((i + 0.5) * (nIn / nOut) - 0.5, 0);
      low[i] = Math.min(Math.floor(source), nIn - 1);
      high[i] = Math.min(low[i] + 1, nIn - 1);
      w[i] = source - low[i];
    }
    return { low, high, w };
  }

  // bilinear resize of an (h, w) image to (H, W), written into out at offset
  function resize(src, h, w, H, W, out, offset) {
    const ry = axisWeights(h, H), rx = axisWeights(w, W);
    for (let y = 0; y < H; y++) {
      const a = ry.low[y] * w, b = ry.high[y] * w, wy = ry.w[y];
      for (let x = 0; x < W; x++) {
        const l = rx.low[x], r = rx.high[x], wx = rx.w[x];
        const top = src[a + l] + (src[a + r] - src[a + l]) * wx;
        const bottom = src[b + l] + (src[b + r] - src[b + l]) * wx;
        out[offset + y * W + x] = top + (bottom - top) * wy;
      }
    }
  }

  window.livsegOnDevice = async function (nv, file, say) {
    window.livseg.state = "on-device";
    say(`reading ${file.name} in this browser ...`, 0);
    while (nv.volumes.length) nv.removeVolumeByIndex(0);
    await nv.loadFromFile(file);
    const volume = nv.volumes[0];
    const ras = volume.img2RAS();
    const [nx, ny, nz] = [volume.dimsRAS[1], volume.dimsRAS[2], volume.dimsRAS[3]];
    const [sx, sy, sz] = [volume.pixDimsRAS[1], volume.pixDimsRAS[2], volume.pixDimsRAS[3]];
    const slope = volume.hdr.scl_slope || 1, intercept = volume.hdr.scl_inter || 0;
    const { liver: liverNet, tumour: tumourNet } = await models();
    if ((liverNet.description.input.in_channels || 1) !== 1) {
      throw new Error("the on-device mode runs a single-slice liver stage only");
    }
    // the CT in the canonical orientation, HU: row r is RAS y = ny-1-r, column c is x = nx-1-c
    const hu = new Float32Array(nx * ny * nz);
    for (let z = 0; z < nz; z++) {
      for (let r = 0; r < ny; r++) {
        const from = z * nx * ny + (ny - 1 - r) * nx, to = z * nx * ny + r * nx;
        for (let c = 0; c < nx; c++) hu[to + c] = ras[from + nx - 1 - c] * slope + intercept;
      }
    }
    const scaled = (description, value) => {
      const [low, high] = description.input.window_hu;
      return (Math.min(Math.max(value, low), high) - low) / (high - low);
    };
    const started = performance.now();
    let networkMs = 0, networkSlices = 0;
    const run = async (net, input, n, h, w, channels = 1) => {
      const t0 = performance.now();
      const output = await net.session.run({
        image: new ort.Tensor("float32", input, [n, channels, h, w]) });
      networkMs += performance.now() - t0; networkSlices += n;
      return output.logits.data;
    };

    // liver stage, every slice
    const [H, W] = liverNet.description.input.size;
    const liver = new Uint8Array(nx * ny * nz), slice = new Float32Array(nx * ny);
    const back = new Float32Array(nx * ny), probability = new Float32Array(H * W);
    const small = new Float32Array(nz * H * W);  // the stage's probabilities at its size
    const batch = 4;
    for (let z0 = 0; z0 < nz; z0 += batch) {
      const n = Math.min(batch, nz - z0), input = new Float32Array(n * H * W);
      for (let k = 0; k < n; k++) {
        const plane = (z0 + k) * nx * ny;
        for (let i = 0; i < nx * ny; i++) slice[i] = scaled(liverNet.description, hu[plane + i]);
        resize(slice, ny, nx, H, W, input, k * H * W);
      }
      const logits = await run(liverNet, input, n, H, W);
      for (let k = 0; k < n; k++) small.set(foreground(logits, k, H, W, probability), (z0 + k) * H * W);
      say(`on-device liver stage: slice ${z0 + n} of ${nz}`, 0.8 * (z0 + n) / nz);
      await new Promise((resolve) => setTimeout(resolve, 0));  // let the page repaint
    }
    // averaged across slices over LIVER_SMOOTHING_MM (an odd number of slices, the edge
    // slices repeated), as livseg.infer.cascade.smoothing_slices and the server do, then
    // resized back and thresholded
    const span = sz > 0 ? Math.round(LIVER_SMOOTHING_MM / sz) | 1 : 3, half = (span - 1) / 2;
    for (let z = 0; z < nz; z++) {
      probability.fill(0);
      for (let d = -half; d <= half; d++) {
        const from = Math.min(Math.max(z + d, 0), nz - 1) * H * W;
        for (let i = 0; i < H * W; i++) probability[i] += small[from + i] / span;
      }
      resize(probability, H, W, ny, nx, back, 0);
      const plane = z * nx * ny;
      for (let i = 0; i < nx * ny; i++) liver[plane + i] = back[i] > 0.5 ? 1 : 0;
    }
    let liverVoxels = keepLargest(liver, nx, ny, nz);

    // tumour stage on the liver's box plus 10 mm, at the network's pixel size
    const tumour = new Uint8Array(nx * ny * nz), tumourProbability = new Uint8Array(nx * ny * nz);
    let tumourVoxels = 0, lesions = 0, smallestLesionMm3 = null, tumourPasses = 0;
    if (liverVoxels) {
      let [z0, z1, r0, r1, c0, c1] = [nz, -1, ny, -1, nx, -1];
      for (let i = 0; i < liver.length; i++) {
        if (!liver[i]) continue;
        const c = i % nx, r = ((i - c) / nx) % ny, z = Math.floor(i / (nx * ny));
        z0 = Math.min(z0, z); z1 = Math.max(z1, z); r0 = Math.min(r0, r); r1 = Math.max(r1, r);
        c0 = Math.min(c0, c); c1 = Math.max(c1, c);
      }
      const grow = (a, b, n, mm, spacing) => [Math.max(0, a - Math.ceil(mm / spacing)),
                                               Math.min(n - 1, b + Math.ceil(mm / spacing))];
      [z0, z1] = grow(z0, z1, nz, 10, sz); [r0, r1] = grow(r0, r1, ny, 10, sy);
      [c0, c1] = grow(c0, c1, nx, 10, sx);
      const h = r1 - r0 + 1, w = c1 - c0 + 1, pixel = tumourNet.description.input.pixel_mm;
      const th = Math.max(1, Math.round(h * sy / pixel)), tw = Math.max(1, Math.round(w * sx / pixel));
      const m = tumourNet.description.input.size_multiple;
      const ph = Math.ceil(th / m) * m, pw = Math.ceil(tw / m) * m;
      const crop = new Float32Array(h * w), small = new Float32Array(th * tw);
      const p = new Float32Array(ph * pw), cropped = new Float32Array(th * tw);
      const up = new Float32Array(h * w);
      // 2.5D: k slices context_mm apart (adjacent slices without it), interpolated between
      // the box's slices and clamped to them, as livseg.preprocess.context does
      const k = tumourNet.description.input.in_channels || 1;
      const step = tumourNet.description.input.context_mm;
      // flip test-time augmentation, as livseg.infer.Stage.tta_flips: a stage trained with
      // flips also sees its slices mirrored left-right (mirrored before the padding, as the
      // server does), and the two answers are averaged
      const recipe = ((tumourNet.description.checkpoint || {}).training || {}).recipe || {};
      const flips = recipe.augment !== false && (recipe.flip_probability ?? 0.5) > 0
        ? [false, true] : [false];
      tumourPasses = flips.length;
      const planes = new Map();  // slice (and mirrored or not) -> its prepared (ph x pw) plane
      const mirrored = new Float32Array(th * tw);
      const plane = (z, flip) => {
        const key = 2 * z + (flip ? 1 : 0);
        if (!planes.has(key)) {
          for (let r = 0; r < h; r++) {
            for (let c = 0; c < w; c++) {
              crop[r * w + c] = scaled(tumourNet.description, hu[z * nx * ny + (r0 + r) * nx + c0 + c]);
            }
          }
          resize(crop, h, w, th, tw, small, 0);
          if (flip) {
            for (let r = 0; r < th; r++) for (let c = 0; c < tw; c++) mirrored[r * tw + c] = small[r * tw + tw - 1 - c];
          }
          const prepared = new Float32Array(ph * pw);
          padEdge(flip ? mirrored : small, th, tw, ph, pw, prepared, 0);
          planes.set(key, prepared);
        }
        return planes.get(key);
      };
      const reach = step ? Math.ceil(((k - 1) / 2) * step / sz) : (k - 1) / 2;
      for (let z = z0; z <= z1; z++) {
        cropped.fill(0);
        for (const flip of flips) {
          const input = new Float32Array(k * ph * pw);
          for (let j = 0; j < k; j++) {
            const offset = j - (k - 1) / 2;
            const at = Math.min(Math.max(z + (step ? offset * step / sz : offset), z0), z1);
            const lo = Math.floor(at), hi = Math.min(lo + 1, z1), share = at - lo;
            const a = plane(lo, flip), b = plane(hi, flip);
            for (let i = 0; i < ph * pw; i++) input[j * ph * pw + i] = a[i] * (1 - share) + b[i] * share;
          }
          const logits = await run(tumourNet, input, 1, ph, pw, k);
          foreground(logits, 0, ph, pw, p);
          for (let r = 0; r < th; r++) {
            for (let c = 0; c < tw; c++) {
              cropped[r * tw + c] += p[r * pw + (flip ? tw - 1 - c : c)] / flips.length;
            }
          }
        }
        for (const key of planes.keys()) if (key < 2 * (z - reach - 1)) planes.delete(key);
        resize(cropped, th, tw, h, w, up, 0);
        for (let r = 0; r < h; r++) {
          for (let c = 0; c < w; c++) {
            const i = z * nx * ny + (r0 + r) * nx + c0 + c;
            tumourProbability[i] = Math.round(Math.min(Math.max(up[r * w + c], 0), 1) * 255);
          }
        }
        say(`on-device tumour stage: slice ${z - z0 + 1} of ${z1 - z0 + 1}`,
            0.8 + 0.2 * (z - z0 + 1) / (z1 - z0 + 1));
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      let outsideLiver;
      ({ voxels: tumourVoxels, lesions, smallestMm3: smallestLesionMm3, outsideLiver } =
        lesionRules(tumourProbability, tumour, liver, nx, ny, nz, [sx, sy, sz]));
      liverVoxels += outsideLiver;  // the liver includes its tumours, as on the server
    }

    // into NiiVue's drawing (RAS order): 2 green liver, 1 red tumour
    nv.createEmptyDrawing();
    const drawing = nv.drawBitmap;
    for (let z = 0; z < nz; z++) {
      for (let r = 0; r < ny; r++) {
        for (let c = 0; c < nx; c++) {
          const i = z * nx * ny + r * nx + c;
          const value = tumour[i] ? 1 : liver[i] ? 2 : 0;
          if (value) drawing[z * nx * ny + (ny - 1 - r) * nx + (nx - 1 - c)] = value;
        }
      }
    }
    nv.refreshDrawing(true);
    nv.setDrawOpacity(Number(document.getElementById("opacity").value));
    const totalMs = performance.now() - started, voxelMl = sx * sy * sz / 1000;
    window.livseg.onDevice = { slices: nz, networkMsPerSlice: networkMs / networkSlices, totalMs,
                               threads: ort.env.wasm.numThreads,
                               liverVoxels, tumourVoxels, lesions, smallestLesionMm3,
                               tumourPasses };
    say(`on-device: liver ${(liverVoxels * voxelMl).toFixed(1)} ml, tumour ` +
        `${(tumourVoxels * voxelMl).toFixed(1)} ml in ${lesions} lesion(s); ${nz} slices in ` +
        `${(totalMs / 1000).toFixed(1)} s (${(networkMs / networkSlices).toFixed(1)} ms per ` +
        "slice in the networks); the CT was not uploaded", 1);
    window.livseg.state = "on-device done";
  };
})();
