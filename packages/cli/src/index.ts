// @ganzoo/cli
export {};
