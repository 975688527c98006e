// AAR: dev.refundkit:refundkit-android. Kotlin sources are shared with the
// JVM package (../kotlin: generated bindings + extras); the native libraries
// come from scripts/build-android (src/main/jniLibs/<abi>/).
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.21"
}

group = "dev.refundkit"
version = "0.1.0"

android {
    namespace = "dev.refundkit"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].java.srcDirs(
        "../kotlin/src/main/kotlin",
        "../kotlin/src/main/kotlin-extras",
    )

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // JNA's AAR carries libjnidispatch.so for every Android ABI.
    implementation("net.java.dev.jna:jna:5.19.1@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.11.0")
}
