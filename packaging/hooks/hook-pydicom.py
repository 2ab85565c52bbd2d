"""pydicom 3 picks its pixel decoders/encoders at run time (``pydicom.pixels.decoders.*``)
and reads data files (character sets, palettes, ``urls.json``/``hashes.json``). The
contributed hook (pyinstaller-hooks-contrib) lists them; this project hook replaces it
(project hooks win), repeats it and adds the package metadata pydicom and pylibjpeg
query for version checks."""

from PyInstaller.utils.hooks import collect_data_files, copy_metadata

hiddenimports = [
    "pydicom.pixels.decoders.gdcm",
    "pydicom.pixels.decoders.pylibjpeg",
    "pydicom.pixels.decoders.pillow",
    "pydicom.pixels.decoders.pyjpegls",
    "pydicom.pixels.decoders.rle",
    "pydicom.pixels.encoders.gdcm",
    "pydicom.pixels.encoders.pylibjpeg",
    "pydicom.pixels.encoders.native",
    "pydicom.pixels.encoders.pyjpegls",
    "pylibjpeg",
]
datas = collect_data_files(
    "pydicom.data",
    includes=["charset_files/*", "palettes/*", "urls.json", "hashes.json"],
)
datas += copy_metadata("pydicom")
