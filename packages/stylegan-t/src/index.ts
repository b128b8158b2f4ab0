// @ganzoo/stylegan-t
export {};
