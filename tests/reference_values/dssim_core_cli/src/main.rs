//! Prints dssim-core's DSSIM of two binary PPM (P6, maxval 255) files, as the `dssim` CLI does for 8-bit sRGB PNGs.
use std::io::Read;

fn read_ppm(path: &str) -> (Vec<rgb::RGB<u8>>, usize, usize) {
    let mut data = Vec::new();
    std::fs::File::open(path).unwrap().read_to_end(&mut data).unwrap();
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while data[pos].is_ascii_whitespace() { pos += 1; }
        let start = pos;
        while !data[pos].is_ascii_whitespace() { pos += 1; }
        fields.push(String::from_utf8(data[start..pos].to_vec()).unwrap());
    }
    pos += 1;
    assert_eq!(fields[0], "P6");
    assert_eq!(fields[3], "255");
    let w: usize = fields[1].parse().unwrap();
    let h: usize = fields[2].parse().unwrap();
    let px = data[pos..pos + w * h * 3].chunks(3).map(|c| rgb::RGB::new(c[0], c[1], c[2])).collect();
    (px, w, h)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let d = dssim_core::Dssim::new();
    let (a, w, h) = read_ppm(&args[1]);
    let (b, w2, h2) = read_ppm(&args[2]);
    assert_eq!((w, h), (w2, h2));
    let ia = d.create_image_rgb(&a, w, h).unwrap();
    let ib = d.create_image_rgb(&b, w, h).unwrap();
    let (val, _) = d.compare(&ia, ib);
    println!("{:.12}", f64::from(val));
}
