"""pylibjpeg finds its decoder plugins (libjpeg, openjpeg, rle) through the entry points in
their package metadata, and imports them by name at run time. Without the metadata a
frozen app has no plugins and compressed DICOM fails only in the built app; without the
hidden imports the plugin modules are not bundled at all."""

from PyInstaller.utils.hooks import collect_dynamic_libs, copy_metadata

PLUGIN_DISTS = {"pylibjpeg-libjpeg": "libjpeg", "pylibjpeg-openjpeg": "openjpeg",
                "pylibjpeg-rle": "rle"}

datas = copy_metadata("pylibjpeg")
hiddenimports = []
binaries = []
for dist, module in PLUGIN_DISTS.items():
    datas += copy_metadata(dist)
    hiddenimports += [module, f"{module}._version", f"{module}.utils"]
    binaries += collect_dynamic_libs(module)
