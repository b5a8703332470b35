"""Copy the browser libraries of `livseg serve` from web/node_modules (installed by
`npm ci` from web/package-lock.json) into the package, with a record of their licences.
Run by `make`; the page then needs no CDN and no network."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "web" / "node_modules"
VENDOR = ROOT / "src" / "livseg" / "serve" / "static" / "vendor"
FILES = {
    "@niivue/niivue": ["dist/niivue.umd.js"],
    "onnxruntime-web": ["dist/ort.wasm.min.js", "dist/ort-wasm-simd-threaded.mjs",
                        "dist/ort-wasm-simd-threaded.wasm"],
    "swagger-ui-dist": ["swagger-ui-bundle.js", "swagger-ui.css"],  # the API page, /docs
}


def main() -> int:
    VENDOR.mkdir(parents=True, exist_ok=True)
    lines = ["# Vendored browser libraries of `livseg serve`", "",
             "| package | version | licence | files |", "|---|---|---|---|"]
    for package, files in FILES.items():
        meta = json.loads((MODULES / package / "package.json").read_text())
        for name in files:
            shutil.copyfile(MODULES / package / name, VENDOR / Path(name).name)
        lines.append(f"| {package} | {meta['version']} | {meta.get('license')} | "
                     f"{', '.join(Path(n).name for n in files)} |")
    lines += ["", "Copied from the npm registry's packages by tools/vendor_web.py; the "
              "licence texts are those of each package's repository: NiiVue "
              "(https://github.com/niivue/niivue, BSD-2-Clause), ONNX Runtime "
              "(https://github.com/microsoft/onnxruntime, MIT) and Swagger UI "
              "(https://github.com/swagger-api/swagger-ui, Apache-2.0)."]
    (VENDOR / "LICENSES.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
