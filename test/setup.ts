// Preloaded by bunfig.toml before every test file.
process.env.TZ = "UTC";
