//! The ArduCAM driver against embedded-hal mocks: the exact SPI / I²C traffic of
//! init, capture and read-out, error paths, and a synthetic frame through the
//! streaming preprocessing into the model's int8 input.

use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::i2c::{Mock as I2c, Transaction as I2cT};
use embedded_hal_mock::eh1::spi::{Mock as Spi, Transaction as SpiT};
use nyquist_camera::arducam::{ArduCamSource, FrameBuffers, OV2640_QVGA_RGB565, SENSOR_ADDR};
use nyquist_camera::preprocess::{luma565, Downsampler};
use nyquist_camera::{ArduCam, CamError, FrameSource, InputSpec};

fn w(bytes: &[u8]) -> Vec<SpiT<u8>> {
    vec![
        SpiT::transaction_start(),
        SpiT::write_vec(bytes.to_vec()),
        SpiT::transaction_end(),
    ]
}

fn r(reg: u8, value: u8) -> Vec<SpiT<u8>> {
    vec![
        SpiT::transaction_start(),
        SpiT::write_vec(vec![reg]),
        SpiT::read_vec(vec![value]),
        SpiT::transaction_end(),
    ]
}

#[test]
fn init_checks_the_link_and_the_sensor_then_writes_the_table() {
    let spi = Spi::new(&[w(&[0x80, 0x55]), r(0x00, 0x55)].concat());
    let mut i2c_ops = vec![
        I2cT::write(SENSOR_ADDR, vec![0xFF, 0x01]),
        I2cT::write_read(SENSOR_ADDR, vec![0x0A], vec![0x26]),
        I2cT::write_read(SENSOR_ADDR, vec![0x0B], vec![0x42]),
    ];
    i2c_ops.extend(
        OV2640_QVGA_RGB565
            .iter()
            .map(|&(a, b)| I2cT::write(SENSOR_ADDR, vec![a, b])),
    );
    let i2c = I2c::new(&i2c_ops);
    let mut cam = ArduCam::new(spi, i2c, NoopDelay);
    cam.init().unwrap();
    let (mut spi, mut i2c, _) = cam.release();
    spi.done();
    i2c.done();
}

#[test]
fn a_miswired_spi_bus_or_a_foreign_sensor_is_reported() {
    let mut spi = Spi::new(&[w(&[0x80, 0x55]), r(0x00, 0xFF)].concat());
    let mut i2c = I2c::new(&[]);
    let e = ArduCam::new(spi.clone(), i2c.clone(), NoopDelay)
        .init()
        .unwrap_err();
    assert_eq!(e, CamError::NoArduChip(0xFF));
    spi.done();
    i2c.done();
    let mut spi = Spi::new(&[w(&[0x80, 0x55]), r(0x00, 0x55)].concat());
    let mut i2c = I2c::new(&[
        I2cT::write(SENSOR_ADDR, vec![0xFF, 0x01]),
        I2cT::write_read(SENSOR_ADDR, vec![0x0A], vec![0x77]),
        I2cT::write_read(SENSOR_ADDR, vec![0x0B], vec![0x40]),
    ]);
    let e = ArduCam::new(spi.clone(), i2c.clone(), NoopDelay)
        .init()
        .unwrap_err();
    assert_eq!(e, CamError::WrongSensor(0x7740));
    spi.done();
    i2c.done();
}

/// A 4x2 RGB565 frame: capture protocol, FIFO length, two burst reads, and the
/// pixels averaged onto a 2x2 image centred on a 4x4 canvas.
#[test]
fn capture_and_read_out_fill_the_model_input() {
    let (w_px, h_px) = (4u16, 2u16);
    let px = |r: u8, g: u8, b: u8| -> [u8; 2] {
        (((r as u16 >> 3) << 11) | ((g as u16 >> 2) << 5) | (b as u16 >> 3)).to_be_bytes()
    };
    let white = px(255, 255, 255);
    let black = px(0, 0, 0);
    let row0: Vec<u8> = [white, white, black, black].concat();
    let row1: Vec<u8> = [white, black, black, white].concat();
    let len = 2 * w_px as u32 * h_px as u32 + 1;
    let mut ops = Vec::new();
    ops.extend(w(&[0x84, 0x01]));
    ops.extend(w(&[0x84, 0x02]));
    ops.extend(r(0x41, 0x00)); // not done yet
    ops.extend(r(0x41, 0x08));
    ops.extend(r(0x42, (len & 0xFF) as u8));
    ops.extend(r(0x43, (len >> 8) as u8));
    ops.extend(r(0x44, 0x00));
    for row in [&row0, &row1] {
        ops.extend(vec![
            SpiT::transaction_start(),
            SpiT::write_vec(vec![0x3C]),
            SpiT::read_vec(row.clone()),
            SpiT::transaction_end(),
        ]);
    }
    let spi = Spi::new(&ops);
    let mut cam = ArduCam::new(spi, I2c::new(&[]), NoopDelay);
    cam.width = w_px;
    cam.height = h_px;
    let (mut row, mut sums) = ([0u8; 8], [0u32; 8]);
    let mut src = ArduCamSource {
        cam,
        bufs: FrameBuffers {
            row: &mut row,
            sums: &mut sums,
        },
    };
    // Identity-like quantization: x = p/255, scale 1/255 → code = p - 128.
    let spec = InputSpec {
        size: 4,
        src: 2,
        pad_value: 0,
        mean: 0.0,
        std: 1.0,
        scale: 1.0 / 255.0,
        zero_point: -128,
    };
    let mut input = [0i8; 16];
    src.next_frame(&spec, &mut input).unwrap();
    // Centre crop 2x2 of the 4x2 frame = columns 1..3: [[white, black], [black, black]].
    let code = |p: i32| (p - 128) as i8;
    assert_eq!(input[5], code(255), "{input:?}");
    assert_eq!(input[6], code(0));
    assert_eq!(input[9], code(0));
    assert_eq!(input[0], code(0), "padding");
    let (mut spi, mut i2c, _) = src.cam.release();
    spi.done();
    i2c.done();
}

#[test]
fn luma_and_box_average_match_pil_on_known_values() {
    assert_eq!(luma565(0xFF, 0xFF), 255);
    assert_eq!(luma565(0, 0), 0);
    // Pure red 565 (31, 0, 0) → 255·299/1000 rounded = 76.
    assert_eq!(luma565(0xF8, 0x00), 76);
    let mut sums = [0u32; 2];
    let mut ds = Downsampler::new(2, 2, 1, &mut sums).unwrap();
    ds.row(&[0xFF, 0xFF, 0x00, 0x00]);
    ds.row(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let spec = InputSpec {
        size: 1,
        src: 1,
        pad_value: 0,
        mean: 0.0,
        std: 1.0,
        scale: 1.0 / 255.0,
        zero_point: -128,
    };
    let mut out = [0i8; 1];
    ds.finish(&spec, &spec.table(), &mut out);
    assert_eq!(out[0], (191 - 128) as i8); // (3·255 + 0) / 4 = 191.25
}
