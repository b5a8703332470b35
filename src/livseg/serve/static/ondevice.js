// On-device mode: the shipped cascade (ONNX) runs in this browser with onnxruntime-web
// (WebAssembly); the CT is read by NiiVue from the local file and never uploaded.
// Preprocessing follows each network's JSON description (livseg export): axial slices in
// the canonical orientation (patient's right on the image's left, anterior at the top), HU
// clipped to the window and scaled to [0, 1], resized with bilinear interpolation at pixel
// centres (as livseg.preprocess.resize_in_plane), padded by edge replication to the size
// multiple. Liver stage on every slice at the size its JSON gives, its probabilities
// averaged across slices over LIVER_SMOOTHING_MM, its largest 6-connected component kept; tumour stage on the
// liver's box plus roi_margin_mm at the pixel size its JSON gives, averaged with its left-right flip
// when it was trained with flips (on the slices whose first pass exceeds
// tta_uncertain_above somewhere, as the server does), each pass placed as tumour_canvas says; a 2.5D tumour stage gets its neighbouring slices as the
// server gives them. The tumour stage's box reaches roi_z_margin_mm beyond the liver's first
// and last slice; the server's lesion rules follow (lesions.js). Simpler than the server's
// cascade: no cheap pass, no orientation check, no hole filling.
"use strict";
(function () {
  let loaded = null;
  const { SETTINGS, components, lesionRules, roiMarginsMm } = window.livsegLesions;
  const LIVER_SMOOTHING_MM = SETTINGS.liver_smoothing_mm;

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

  // the largest 6-connected component of a mask, in place; returns its size
  function keepLargest(mask, nx, ny, nz) {
    const { label, sizes } = components(mask, nx, ny, nz, false);
    let best = 0;
    for (let l = 1; l < sizes.length; l++) if (sizes[l] > sizes[best]) best = l;
    for (let i = 0; i < mask.length; i++) mask[i] = best && label[i] === best ? 1 : 0;
    return best ? sizes[best] : 0;
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

    // tumour stage on the liver's box plus its margins, at the network's pixel size
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
      const margins = roiMarginsMm();
      [z0, z1] = grow(z0, z1, nz, margins.across, sz);
      [r0, r1] = grow(r0, r1, ny, margins.inPlane, sy);
      [c0, c1] = grow(c0, c1, nx, margins.inPlane, sx);
      const h = r1 - r0 + 1, w = c1 - c0 + 1, pixel = tumourNet.description.input.pixel_mm;
      const th = Math.max(1, Math.round(h * sy / pixel)), tw = Math.max(1, Math.round(w * sx / pixel));
      const m = tumourNet.description.input.size_multiple;
      const [sh, sw] = tumourNet.description.input.size;
      // a pass sees the box alone, or centred on the training size (0 around it) and then
      // mirrored whole, as livseg.infer.Stage does with tumour_canvas
      const layout = (onCanvas) => {
        const H = onCanvas ? Math.max(th, sh) : th, W = onCanvas ? Math.max(tw, sw) : tw;
        return { H, W, ro: Math.floor((H - th) / 2), co: Math.floor((W - tw) / 2),
                 ph: Math.ceil(H / m) * m, pw: Math.ceil(W / m) * m };
      };
      const crop = new Float32Array(h * w), small = new Float32Array(th * tw);
      const cropped = new Float32Array(th * tw);
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
      const placement = SETTINGS.tumour_canvas;
      const views = placement === "both"
        ? flips.flatMap((flip) => [{ flip, onCanvas: false }, { flip, onCanvas: true }])
        : flips.map((flip) => ({ flip, onCanvas: placement === "all" || (placement === "flipped" && flip) }));
      tumourPasses = views.length;
      const planes = new Map();  // slice and view -> its prepared (ph x pw) plane
      const plane = (z, view) => {
        const key = 4 * z + (view.flip ? 1 : 0) + (view.onCanvas ? 2 : 0);
        if (!planes.has(key)) {
          for (let r = 0; r < h; r++) {
            for (let c = 0; c < w; c++) {
              crop[r * w + c] = scaled(tumourNet.description, hu[z * nx * ny + (r0 + r) * nx + c0 + c]);
            }
          }
          resize(crop, h, w, th, tw, small, 0);
          const at = layout(view.onCanvas), placed = new Float32Array(at.H * at.W);
          for (let r = 0; r < th; r++) {
            for (let c = 0; c < tw; c++) {
              const col = at.co + c;
              placed[(at.ro + r) * at.W + (view.flip ? at.W - 1 - col : col)] = small[r * tw + c];
            }
          }
          const prepared = new Float32Array(at.ph * at.pw);
          padEdge(placed, at.H, at.W, at.ph, at.pw, prepared, 0);
          planes.set(key, prepared);
        }
        return planes.get(key);
      };
      const reach = step ? Math.ceil(((k - 1) / 2) * step / sz) : (k - 1) / 2;
      for (let z = z0; z <= z1; z++) {
        cropped.fill(0);
        // the flipped pass only where the first exceeds tta_uncertain_above somewhere
        let passes = 0, firstMax = 0;
        for (const view of views) {
          const above = SETTINGS.tta_uncertain_above;
          if (passes && above !== null && !(firstMax > above)) break;
          const { ph, pw, ro, co, W } = layout(view.onCanvas);
          const input = new Float32Array(k * ph * pw), p = new Float32Array(ph * pw);
          for (let j = 0; j < k; j++) {
            const offset = j - (k - 1) / 2;
            const at = Math.min(Math.max(z + (step ? offset * step / sz : offset), z0), z1);
            const lo = Math.floor(at), hi = Math.min(lo + 1, z1), share = at - lo;
            const a = plane(lo, view), b = plane(hi, view);
            for (let i = 0; i < ph * pw; i++) input[j * ph * pw + i] = a[i] * (1 - share) + b[i] * share;
          }
          const logits = await run(tumourNet, input, 1, ph, pw, k);
          foreground(logits, 0, ph, pw, p);
          for (let r = 0; r < th; r++) {
            for (let c = 0; c < tw; c++) {
              const col = co + c;
              const value = p[(ro + r) * pw + (view.flip ? W - 1 - col : col)];
              cropped[r * tw + c] += value;
              if (!passes) firstMax = Math.max(firstMax, value);
            }
          }
          passes++;
        }
        for (let i = 0; i < th * tw; i++) cropped[i] /= passes;
        for (const key of planes.keys()) if (key < 4 * (z - reach - 1)) planes.delete(key);
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
      const found = lesionRules(tumourProbability, hu, tumour, liver, nx, ny, nz, [sx, sy, sz]);
      ({ voxels: tumourVoxels, lesions } = found);
      smallestLesionMm3 = lesions ? Math.min(...found.volumesMm3) : null;
      const outsideLiver = found.outsideLiver;
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
